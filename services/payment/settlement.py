"""Recording, settling and failing a payment, and deciding the orders that wait for funds.

Each step runs in its caller's transaction, which holds the customer's wallet lock.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from asyncpg import Record

from shared.contract.events import OrderCreated, PaymentAwaitingFunds, PaymentFailed, PaymentSettled, SettledLine
from shared.unit_of_work import UnitOfWork

from services.payment import domain

METHOD = "credit_wallet"
INSUFFICIENT_FUNDS = "insufficient_funds"
# Wallets the sweep decides per transaction, so that one run stays short.
SWEEP_BATCH = 100


@dataclass(frozen=True)
class Payment:
    """What a settlement or failure announces about an order."""

    payment_id: str
    order_id: str
    request_id: str
    round: int
    customer_id: str
    cluster_id: str
    amount: int
    currency: str
    lines: list[SettledLine]

    @classmethod
    def of_order(cls, order: OrderCreated, payment_id: str) -> "Payment":
        lines = [SettledLine(resource_id=line.resource_id, total=line.total) for line in order.lines]
        return cls(payment_id, order.order_id, order.request_id, order.round, order.customer_id,
                   order.cluster_id, order.total, order.currency, lines)

    @classmethod
    def of_row(cls, row: Record) -> "Payment":
        lines = [SettledLine.model_validate(line) for line in json.loads(row["lines"])]
        return cls(row["payment_id"], row["order_id"], row["request_id"], row["round"], row["customer_id"],
                   row["cluster_id"], row["amount"], row["currency"], lines)

    @property
    def resource_ids(self) -> list[str]:
        return [line.resource_id for line in self.lines]

    @property
    def identifiers(self) -> dict:
        """The order and conversion that every payment event names."""
        return {"order_id": self.order_id, "request_id": self.request_id, "round": self.round,
                "customer_id": self.customer_id, "cluster_id": self.cluster_id}


async def record(uow: UnitOfWork, payment: Payment, status: str, balance_after: int, *,
                 reason: str | None = None, wait_until: datetime | None = None) -> None:
    await uow.execute(
        "record_payment", payment.payment_id, payment.order_id, payment.request_id, payment.round,
        payment.customer_id, payment.cluster_id, payment.amount, status, reason, balance_after,
        payment.resource_ids, json.dumps([line.model_dump() for line in payment.lines]), payment.currency,
        wait_until,
    )


async def settle(uow: UnitOfWork, payment: Payment, balance_after: int, settled_at: datetime) -> None:
    """Debit the wallet (one ledger row per order) and announce the payment."""
    if payment.amount:
        await uow.execute("set_balance", payment.customer_id, balance_after)
        await uow.execute("append_ledger", payment.customer_id, "debit", -payment.amount,
                          f"order:{payment.order_id}", payment.order_id, balance_after)
    await uow.emit(
        PaymentSettled(
            payment_id=payment.payment_id, amount=payment.amount, currency=payment.currency, method=METHOD,
            balance_after=balance_after, resource_ids=payment.resource_ids, settled_at=settled_at,
            lines=payment.lines, **payment.identifiers,
        )
    )


async def announce_failure(uow: UnitOfWork, payment: Payment, outcome: domain.Settlement) -> None:
    await uow.emit(
        PaymentFailed(
            reason=INSUFFICIENT_FUNDS, amount=payment.amount, balance=outcome.balance_after,
            shortfall=outcome.shortfall, **payment.identifiers,
        )
    )


async def announce_wait(uow: UnitOfWork, payment: Payment, outcome: domain.Settlement, wait_until: datetime) -> None:
    await uow.emit(
        PaymentAwaitingFunds(
            amount=payment.amount, balance=outcome.balance_after, shortfall=outcome.shortfall,
            wait_until=wait_until, **payment.identifiers,
        )
    )


async def decide_waits(uow: UnitOfWork, customer_id: str, balance: int, now: datetime) -> int:
    """Settle or fail the customer's waiting orders as ``domain.resolve_waits`` says; the balance after."""
    rows = await uow.fetch("lock_waiting_payments", customer_id)
    waiting = {row["order_id"]: row for row in rows}
    decisions = domain.resolve_waits(
        balance, [domain.Waiting(row["order_id"], row["amount"], row["wait_until"]) for row in rows], now
    )
    for order_id, outcome in decisions:
        payment = Payment.of_row(waiting[order_id])
        if outcome.settled:
            await uow.execute("decide_payment", payment.payment_id, "settled", None, outcome.balance_after)
            await settle(uow, payment, outcome.balance_after, now)
        else:
            await uow.execute("decide_payment", payment.payment_id, "failed", INSUFFICIENT_FUNDS, outcome.balance_after)
            await announce_failure(uow, payment, outcome)
        balance = outcome.balance_after
    return balance


async def expire_overdue_waits(uow: UnitOfWork) -> None:
    """The sweep: decide the waits of customers with one past its deadline."""
    now = await uow.fetchval("transaction_time")
    for wallet in await uow.fetch("claim_wallets_with_overdue_waits", SWEEP_BATCH):
        await decide_waits(uow, wallet["customer_id"], wallet["balance"], now)
