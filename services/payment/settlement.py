"""Recording, settling and failing a payment, and deciding the orders that wait for funds.

Each step runs in its caller's transaction, which holds the customer's wallet lock.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from stoppoc.contract.base import OrderKind
from stoppoc.contract.events import (
    OrderCreated,
    OrderLine,
    PaymentAwaitingFunds,
    PaymentFailed,
    PaymentSettled,
    SettledLine,
)
from stoppoc.services.payment import domain
from stoppoc.services.payment.queries import WaitingPayment, WalletBalance
from stoppoc.shared.unit_of_work import UnitOfWork

METHOD = "credit_wallet"
INSUFFICIENT_FUNDS = "insufficient_funds"
# Wallets the sweep decides per transaction, so that one run stays short.
SWEEP_BATCH = 100


class OrderTerms(BaseModel):
    """What ``payment.settled`` repeats of its order, so that billing analysts need nothing else."""

    model_config = ConfigDict(frozen=True)

    kind: OrderKind = OrderKind.CONVERSION
    renewal_id: str | None = None
    usage_cycle_months: int | None = None
    auto_renew: bool | None = None
    coupon_code: str | None = None
    subtotal: int | None = None
    discount: int | None = None
    tax: int | None = None
    vat_percent: int | None = None

    @classmethod
    def of_order(cls, order: OrderCreated) -> "OrderTerms":
        rates = {line.vat_percent for line in order.lines}
        return cls(
            vat_percent=rates.pop() if len(rates) == 1 else None,
            **order.model_dump(
                include={
                    "kind",
                    "renewal_id",
                    "usage_cycle_months",
                    "auto_renew",
                    "coupon_code",
                    "subtotal",
                    "discount",
                    "tax",
                }
            ),
        )


def settled_line(line: OrderLine) -> SettledLine:
    return SettledLine(
        **line.model_dump(
            include={"resource_id", "kind", "amount", "cycle_discount", "coupon_discount", "tax", "total"}
        )
    )


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
    terms: OrderTerms
    # The order's trace, kept while the payment waits; empty: the current one.
    trace: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_order(cls, order: OrderCreated, payment_id: str) -> "Payment":
        lines = [settled_line(line) for line in order.lines]
        return cls(
            payment_id,
            order.order_id,
            order.request_id,
            order.round,
            order.customer_id,
            order.cluster_id,
            order.total,
            order.currency,
            lines,
            OrderTerms.of_order(order),
        )

    @classmethod
    def of_row(cls, row: WaitingPayment) -> "Payment":
        lines = [SettledLine.model_validate(line) for line in row.lines]
        return cls(
            row.payment_id,
            row.order_id,
            row.request_id,
            row.round,
            row.customer_id,
            row.cluster_id,
            row.amount,
            row.currency,
            lines,
            OrderTerms.model_validate(row.terms),
            {"traceparent": row.traceparent, "tracestate": row.tracestate or ""} if row.traceparent else {},
        )

    @property
    def resource_ids(self) -> list[str]:
        return [line.resource_id for line in self.lines]

    @property
    def identifiers(self) -> dict[str, Any]:
        """The order and conversion that every payment event names."""
        return {
            "order_id": self.order_id,
            "request_id": self.request_id,
            "round": self.round,
            "customer_id": self.customer_id,
            "cluster_id": self.cluster_id,
        }


async def record(
    uow: UnitOfWork,
    payment: Payment,
    status: str,
    balance_after: int,
    *,
    reason: str | None = None,
    wait_until: datetime | None = None,
) -> None:
    trace = payment.trace or uow.trace_context()
    await uow.q.record_payment(
        payment_id=payment.payment_id,
        amount=payment.amount,
        currency=payment.currency,
        status=status,
        reason=reason,
        balance_after=balance_after,
        resource_ids=payment.resource_ids,
        lines=[line.model_dump(mode="json") for line in payment.lines],
        terms=payment.terms.model_dump(mode="json"),
        wait_until=wait_until,
        traceparent=trace.get("traceparent"),
        tracestate=trace.get("tracestate") or None,
        **payment.identifiers,
    )


async def settle(uow: UnitOfWork, payment: Payment, balance_after: int, settled_at: datetime) -> None:
    """Debit the wallet (one ledger row per order) and announce the payment."""
    if payment.amount:
        await uow.q.post_to_wallet(
            customer_id=payment.customer_id,
            kind="debit",
            amount=-payment.amount,
            reference=f"order:{payment.order_id}",
            order_id=payment.order_id,
            balance_after=balance_after,
        )
    await uow.emit(
        PaymentSettled(
            payment_id=payment.payment_id,
            amount=payment.amount,
            currency=payment.currency,
            method=METHOD,
            balance_after=balance_after,
            resource_ids=payment.resource_ids,
            settled_at=settled_at,
            lines=payment.lines,
            **payment.identifiers,
            **payment.terms.model_dump(),
        ),
        trace=payment.trace,
    )


async def announce_failure(uow: UnitOfWork, payment: Payment, outcome: domain.Settlement, reserved: int = 0) -> None:
    """``reserved``: what older orders waiting for funds were to take first (in the shortfall)."""
    await uow.emit(
        PaymentFailed(
            reason=INSUFFICIENT_FUNDS,
            amount=payment.amount,
            balance=outcome.balance_after,
            shortfall=outcome.shortfall,
            kind=payment.terms.kind,
            renewal_id=payment.terms.renewal_id,
            wallet_reserved=reserved,
            **payment.identifiers,
        ),
        trace=payment.trace,
    )


async def announce_wait(uow: UnitOfWork, payment: Payment, outcome: domain.Settlement, wait_until: datetime) -> None:
    await uow.emit(
        PaymentAwaitingFunds(
            amount=payment.amount,
            balance=outcome.balance_after,
            shortfall=outcome.shortfall,
            wait_until=wait_until,
            **payment.identifiers,
        )
    )


async def decide_waits(uow: UnitOfWork, customer_id: str, balance: int, now: datetime) -> int:
    """Settle or fail the customer's waiting orders as ``domain.resolve_waits`` says; the balance after."""
    rows: list[WaitingPayment] = await uow.q.lock_waiting_payments(customer_id=customer_id)
    waiting = {row.order_id: row for row in rows}
    decisions = domain.resolve_waits(
        balance, [domain.Waiting(row.order_id, row.amount, row.wait_until) for row in rows], now
    )
    for order_id, outcome in decisions:
        payment = Payment.of_row(waiting[order_id])
        if outcome.settled:
            await uow.q.decide_payment(
                payment_id=payment.payment_id, status="settled", reason=None, balance_after=outcome.balance_after
            )
            await settle(uow, payment, outcome.balance_after, now)
        else:
            await uow.q.decide_payment(
                payment_id=payment.payment_id,
                status="failed",
                reason=INSUFFICIENT_FUNDS,
                balance_after=outcome.balance_after,
            )
            await announce_failure(uow, payment, outcome)
        balance = outcome.balance_after
    return balance


async def expire_overdue_waits(uow: UnitOfWork) -> None:
    """The sweep: decide the waits of customers with one past its deadline."""
    now = await uow.q.transaction_time()
    wallets: list[WalletBalance] = await uow.q.claim_wallets_with_overdue_waits(batch_size=SWEEP_BATCH)
    for wallet in wallets:
        await decide_waits(uow, wallet.customer_id, wallet.balance, now)
