"""Wallet arithmetic: pure functions, no I/O."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

REFUND_PREFIX = "refund:"
OVER_CEILING = "amount_over_ceiling"  # the reason of a refused credit


@dataclass(frozen=True)
class Settlement:
    settled: bool
    balance_after: int
    shortfall: int


def settle(balance: int, amount: int) -> Settlement:
    """Pay ``amount`` from a wallet holding ``balance``: all of it, or nothing."""
    if balance < 0 or amount < 0:
        raise ValueError("balance and amount are never negative")
    if amount <= balance:
        return Settlement(settled=True, balance_after=balance - amount, shortfall=0)
    return Settlement(settled=False, balance_after=balance, shortfall=amount - balance)


def credit(balance: int, amount: int) -> int:
    if amount <= 0:
        raise ValueError("a credit is a positive amount")
    return balance + amount


def credit_kind(reference: str) -> str:
    """Inventory gives back the line of a paid resource that vanished as ``refund:<payment>:<resource>``."""
    return "refund" if reference.startswith(REFUND_PREFIX) else "credit"


def credit_refusal(reference: str, amount: int, ceiling: int) -> str | None:
    """Why a credit is refused (a sentence), or None. One above the ceiling is a typo or worse;
    a refund gives back what was paid and is never refused."""
    if amount > ceiling and credit_kind(reference) != "refund":
        return f"a credit of {amount} VND is above the ceiling of {ceiling} VND (STOPPOC_MAX_CREDIT)"
    return None


def refunded_payment_id(reference: str) -> str | None:
    parts = reference.split(":")
    return parts[1] if credit_kind(reference) == "refund" and len(parts) == 3 and parts[1] else None


@dataclass(frozen=True)
class Waiting:
    """An order the wallet could not cover when it came, waiting for a credit."""

    order_id: str
    amount: int
    wait_until: datetime


def wait_deadline(now: datetime, wait_seconds: float) -> datetime | None:
    """Until when an order the wallet cannot cover waits; ``None``: it fails at once."""
    if wait_seconds < 0:
        raise ValueError("a wait is never negative")
    return now + timedelta(seconds=wait_seconds) if wait_seconds else None


def resolve_waits(balance: int, waiting: Iterable[Waiting], now: datetime) -> list[tuple[str, Settlement]]:
    """What becomes of a customer's waiting orders, taken in the order they were created (oldest first):
    one the balance covers is settled; one past its deadline that it does not cover fails; the
    first one still in time that it does not cover blocks the ones behind it, which then can
    only fail at their own deadline, never settle ahead of it. Orders not named keep waiting."""
    decisions = []
    ahead = 0  # what the blocking orders, still in time, will take first
    for order in waiting:
        outcome = settle_at_once(balance, ahead, order.amount)
        if outcome.settled:
            balance = outcome.balance_after
        elif order.wait_until > now:
            ahead += order.amount
            continue
        decisions.append((order.order_id, outcome))
    return decisions


def settle_at_once(balance: int, reserved: int, amount: int) -> Settlement:
    """Pay ``amount`` now from what the wallet holds beyond ``reserved`` (what older orders waiting
    for funds will take first), or not at all. The shortfall is the top-up that would let it
    through: ``amount + reserved - balance``."""
    if balance < 0 or reserved < 0 or amount < 0:
        raise ValueError("balance, reserved and amount are never negative")
    if amount + reserved <= balance:
        return Settlement(settled=True, balance_after=balance - amount, shortfall=0)
    return Settlement(settled=False, balance_after=balance, shortfall=amount + reserved - balance)
