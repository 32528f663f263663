"""``stoppoc reconcile``: orders (checkout), settlements and refunds (payment) and wallet
movements (payment's ledger) side by side, per customer and day (UTC), and every place where
they disagree."""

import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import click

from stoppoc.cli.database import NEGATIVE, read
from stoppoc.cli.output import echo_json, json_option, show
from stoppoc.cli.timing import check_window, window_options
from stoppoc.services.checkout.queries import QUERIES as CHECKOUT
from stoppoc.services.checkout.queries import OrderTotal
from stoppoc.services.payment.queries import QUERIES as PAYMENT
from stoppoc.services.payment.queries import (
    LedgerMovement,
    PaymentLines,
    PaymentRow,
    SettledPayment,
    WalletAgainstLedger,
)
from stoppoc.shared.queries import BoundQueries

DAY_COLUMNS = ["customer_id", "day", "orders", "ordered", "settled", "debited", "refunded", "credited", "mismatches"]
MISMATCH_COLUMNS = ["customer_id", "day", "kind", "subject", "detail"]


@dataclass(frozen=True)
class Books:
    """What the services recorded for a window."""

    orders: list[OrderTotal]  # created in the window, and those the window's settlements pay
    payments_of_orders: list[PaymentRow]  # every payment of those orders, whenever decided
    settled: list[SettledPayment]  # settled in the window
    movements: list[LedgerMovement]  # ledger entries written in the window
    refunded_payments: list[PaymentLines]  # the payments the window's refunds name
    wallets: list[WalletAgainstLedger]  # the wallets that moved in the window
    since: datetime
    until: datetime


@dataclass(frozen=True)
class Mismatch:
    customer_id: str
    day: date
    kind: str
    subject: str
    detail: str


@dataclass
class Day:
    orders: int = 0
    ordered: int = 0
    settled: int = 0
    debited: int = 0
    refunded: int = 0
    credited: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)


def _refund_parts(reference: str) -> tuple[str, str]:
    """``refund:<payment_id>:<resource_id>``."""
    parts = reference.split(":")
    return (parts[1], parts[2]) if len(parts) == 3 else ("", "")


def reconcile(books: Books) -> tuple[dict[tuple[str, date], Day], list[Mismatch]]:
    """The figures per customer and day, and every mismatch between the books."""
    days: dict[tuple[str, date], Day] = defaultdict(Day)
    found: list[Mismatch] = []

    def mismatch(customer_id: str, when: datetime, kind: str, subject: str, detail: str) -> None:
        found.append(Mismatch(customer_id, when.date(), kind, subject, detail))

    in_window = [o for o in books.orders if books.since <= o.created_at < books.until]
    orders = {o.order_id: o for o in books.orders}
    payments_by_order = {p.order_id: p for p in books.payments_of_orders}
    for order in in_window:
        day = days[(order.customer_id, order.created_at.date())]
        day.orders += 1
        day.ordered += order.total
        if order.order_id not in payments_by_order:
            mismatch(order.customer_id, order.created_at, "order_without_payment", order.order_id, "no payment")

    debits = {m.reference.removeprefix("order:"): m for m in books.movements if m.kind == "debit"}
    for paid in books.settled:
        days[(paid.customer_id, paid.decided_at.date())].settled += paid.amount
        paid_order = orders.get(paid.order_id)
        if paid_order is None:
            mismatch(paid.customer_id, paid.decided_at, "settlement_without_order", paid.payment_id, paid.order_id)
        elif paid_order.total != paid.amount:
            detail = f"settled {paid.amount}, order total {paid_order.total}"
            mismatch(paid.customer_id, paid.decided_at, "settlement_differs_from_order", paid.payment_id, detail)
        if paid.lines_total != paid.amount:
            detail = f"lines add up to {paid.lines_total}, settled {paid.amount}"
            mismatch(paid.customer_id, paid.decided_at, "lines_do_not_add_up", paid.payment_id, detail)
        debit = debits.pop(paid.order_id, None)
        if paid.amount and debit is None:
            mismatch(paid.customer_id, paid.decided_at, "settlement_without_debit", paid.payment_id, paid.order_id)
        elif debit is not None and -debit.amount != paid.amount:
            detail = f"debited {-debit.amount}, settled {paid.amount}"
            mismatch(paid.customer_id, paid.decided_at, "debit_differs_from_settlement", paid.payment_id, detail)
    for order_id, debit in debits.items():
        mismatch(debit.customer_id, debit.created_at, "debit_without_settlement", debit.reference, order_id)

    refunded = {p.payment_id: p for p in books.refunded_payments}
    for movement in books.movements:
        day = days[(movement.customer_id, movement.created_at.date())]
        if movement.kind == "debit":
            day.debited += -movement.amount
        elif movement.kind == "refund":
            day.refunded += movement.amount
            _check_refund(movement, refunded, mismatch)
        else:
            day.credited += movement.amount
        if movement.balance_before + movement.amount != movement.balance_after:
            detail = f"{movement.balance_before} + {movement.amount} != {movement.balance_after}"
            mismatch(movement.customer_id, movement.created_at, "ledger_chain_broken", movement.reference, detail)

    for wallet in books.wallets:
        if wallet.balance != wallet.ledger_sum:
            detail = f"balance {wallet.balance}, ledger sums to {wallet.ledger_sum}"
            mismatch(wallet.customer_id, books.until, "wallet_differs_from_ledger", wallet.customer_id, detail)
    for item in found:
        days[(item.customer_id, item.day)].mismatches.append(item)
    return dict(sorted(days.items())), found


def _check_refund(movement: LedgerMovement, refunded: dict[str, PaymentLines], mismatch: Any) -> None:
    payment_id, resource_id = _refund_parts(movement.reference)
    payment = refunded.get(payment_id)
    if payment is None or payment.status != "settled":
        mismatch(movement.customer_id, movement.created_at, "refund_without_settlement", movement.reference, "")
        return
    line = next((line for line in payment.lines if line.get("resource_id") == resource_id), None)
    if line is None:
        detail = f"{resource_id} is not a line of {payment_id}"
        mismatch(movement.customer_id, movement.created_at, "refund_of_no_line", movement.reference, detail)
    elif movement.amount > int(line.get("total", 0)):
        detail = f"refunded {movement.amount}, the line's total is {line.get('total')}"
        mismatch(movement.customer_id, movement.created_at, "refund_exceeds_line", movement.reference, detail)


async def read_books(checkout: BoundQueries, payment: BoundQueries, since: datetime, until: datetime) -> Books:
    settled: list[SettledPayment] = await payment.settled_between(since=since, until=until)
    orders: list[OrderTotal] = await checkout.order_totals(
        since=since, until=until, order_ids=[p.order_id for p in settled]
    )
    movements: list[LedgerMovement] = await payment.ledger_between(since=since, until=until)
    refunded_ids = [_refund_parts(m.reference)[0] for m in movements if m.kind == "refund"]
    customers = sorted({m.customer_id for m in movements})
    return Books(
        orders=orders,
        payments_of_orders=await payment.list_payments(
            customer_id=None, status=None, order_ids=[o.order_id for o in orders]
        ),
        settled=settled,
        movements=movements,
        refunded_payments=await payment.payment_lines(payment_ids=refunded_ids),
        wallets=await payment.wallets_against_ledger(customer_ids=customers),
        since=since,
        until=until,
    )


@click.command("reconcile")
@window_options
@json_option
def reconcile_command(since: datetime, until: datetime, as_json: bool) -> None:
    """Per customer and day of [--since, --until): orders, settlements, refunds and wallet
    movements side by side, and every mismatch between them. Exit 1 on any mismatch.

    Checked: each order has a payment; each settlement pays an order's exact total, its lines add
    up to it, and the ledger holds one debit of it; no debit without a settlement; each refund
    gives back at most a line of a settled payment; each ledger entry's balance follows from the
    one before; each wallet's balance is its ledger's sum. An order created just before --until
    may not be paid yet: reconcile a window that ended a few minutes ago.
    """
    check_window(since, until)

    async def query(checkout: BoundQueries, payment: BoundQueries) -> Books:
        return await read_books(checkout, payment, since, until)

    days, found = reconcile(read(query, checkout=CHECKOUT, payment=PAYMENT))
    rows = [
        {
            "customer_id": customer,
            "day": day.isoformat(),
            **{k: v for k, v in vars(figures).items() if k != "mismatches"},
        }
        | {"mismatches": len(figures.mismatches)}
        for (customer, day), figures in days.items()
    ]
    mismatches = [{**vars(m), "day": m.day.isoformat()} for m in found]
    if as_json:
        echo_json({"since": since, "until": until, "days": rows, "mismatches": mismatches})
    else:
        show(rows, DAY_COLUMNS, as_json=False, title=f"reconciliation of [{since}, {until}) (VND)")
        if mismatches:
            show(mismatches, MISMATCH_COLUMNS, as_json=False, title=f"{len(mismatches)} mismatches")
        else:
            click.echo("no mismatch")
    if found:
        sys.exit(NEGATIVE)
