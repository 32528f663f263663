"""Wallet arithmetic: pure functions, no I/O."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from stoppoc.contract.base import Rejection

if TYPE_CHECKING:
    from stoppoc.services.payment.queries import RefundedPayment

REFUND_PREFIX = "refund:"
# Why a credit is refused (wallet.credit_rejected reason).
OVER_CEILING = "amount_over_ceiling"
REFUND_UNKNOWN_PAYMENT = "refund_unknown_payment"
REFUND_EXCEEDS_PAYMENT = "refund_exceeds_payment"


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
    a refund is bounded by its payment instead (``refund_refusal``)."""
    if amount > ceiling and credit_kind(reference) != "refund":
        return f"a credit of {amount} VND is above the ceiling of {ceiling} VND (STOPPOC_MAX_CREDIT)"
    return None


def refund_target(reference: str) -> tuple[str, str] | None:
    """The payment and resource a refund names (``refund:<payment>:<resource>``), or None."""
    if credit_kind(reference) != "refund":
        return None
    payment_id, _, resource_id = reference.removeprefix(REFUND_PREFIX).partition(":")
    return (payment_id, resource_id) if payment_id and resource_id else None


def refunded_payment_id(reference: str) -> str | None:
    target = refund_target(reference)
    return target[0] if target else None


def refund_refusal(reference: str, customer_id: str, amount: int, paid: "RefundedPayment | None") -> Rejection | None:
    """Why a refund is refused, or None. A refund gives back a line of a settled payment of the
    same customer, at most what that line cost, and all refunds of the payment at most what it
    charged: anything else is credit minted past the ceiling."""
    target = refund_target(reference)
    if target is None:
        return Rejection(REFUND_UNKNOWN_PAYMENT, f"reference {reference!r} is not refund:<payment id>:<resource id>")
    payment_id, resource_id = target
    if paid is None or paid.customer_id != customer_id or paid.status != "settled":
        return Rejection(REFUND_UNKNOWN_PAYMENT, f"customer {customer_id} has no settled payment {payment_id}")
    if paid.line_total is None:
        return Rejection(REFUND_UNKNOWN_PAYMENT, f"payment {payment_id} has no line for {resource_id}")
    if amount > paid.line_total:
        return Rejection(
            REFUND_EXCEEDS_PAYMENT,
            f"a refund of {amount} VND is more than the {paid.line_total} VND payment {payment_id} "
            f"charged for {resource_id}",
        )
    if paid.refunded + amount > paid.amount:
        return Rejection(
            REFUND_EXCEEDS_PAYMENT,
            f"a refund of {amount} VND after {paid.refunded} VND refunded already is more than the "
            f"{paid.amount} VND payment {payment_id} charged",
        )
    return None


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
