"""``stoppoc orders``: the orders checkout priced, with their lines and their payment."""

from typing import Any

import click

from stoppoc.cli.database import fail, read
from stoppoc.cli.output import as_dict, json_option, show, show_with_rows
from stoppoc.contract.base import OrderKind
from stoppoc.services.checkout.queries import QUERIES as CHECKOUT
from stoppoc.services.checkout.queries import OrderRow
from stoppoc.services.payment.queries import QUERIES as PAYMENT
from stoppoc.services.payment.queries import PaymentRow
from stoppoc.shared.queries import BoundQueries

ORDER_COLUMNS = [
    "order_id",
    "kind",
    "customer_id",
    "cluster_id",
    "round",
    "usage_cycle_months",
    "coupon_code",
    "total",
    "payment",
    "created_at",
]
ORDER_DETAIL_COLUMNS = [
    "kind",
    "customer_id",
    "cluster_id",
    "round",
    "usage_cycle_months",
    "auto_renew",
    "coupon_code",
    "subtotal",
    "discount",
    "tax",
    "total",
    "created_at",
]
LINE_COLUMNS = [
    "resource_id",
    "kind",
    "amount",
    "cycle_discount",
    "coupon_discount",
    "discount",
    "vat_percent",
    "tax",
    "total",
]


def with_payment(order: OrderRow, payment: PaymentRow | None) -> dict[str, Any]:
    """The order as staff read it: without its lines, with the status of its payment (None while
    payment has not taken it)."""
    row = {k: v for k, v in as_dict(order).items() if k != "lines"}
    row["payment"] = payment.status if payment else None
    return row


@click.group()
def orders() -> None:
    """Orders checkout priced: lines, discounts, VAT, and whether they were paid."""


@orders.command("list")
@click.option("--customer", help="Only this customer's orders.")
@click.option(
    "--kind",
    type=click.Choice([kind.value for kind in OrderKind]),
    help="Only the rounds of conversions, or only renewals.",
)
@json_option
def list_orders(customer: str | None, kind: str | None, as_json: bool) -> None:
    async def query(checkout: BoundQueries, payment: BoundQueries) -> list[dict[str, Any]]:
        found: list[OrderRow] = await checkout.list_orders(customer_id=customer, kind=kind)
        paid = await payment.list_payments(customer_id=customer, status=None, order_ids=[o.order_id for o in found])
        by_order = {p.order_id: p for p in paid}
        return [with_payment(order, by_order.get(order.order_id)) for order in found]

    show(read(query, checkout=CHECKOUT, payment=PAYMENT), ORDER_COLUMNS, as_json=as_json)


@orders.command("show")
@click.argument("order_id")
@json_option
def show_order(order_id: str, as_json: bool) -> None:
    """The order, its lines and its payment."""

    async def query(checkout: BoundQueries, payment: BoundQueries) -> Any:
        found = await payment.list_payments(customer_id=None, status=None, order_ids=[order_id])
        return await checkout.order(order_id=order_id), (found[0] if found else None)

    order, payment = read(query, checkout=CHECKOUT, payment=PAYMENT)
    if order is None:
        fail(f"no order {order_id!r}")
    summary = with_payment(order, payment)
    summary["payment"] = (
        {k: getattr(payment, k) for k in ("payment_id", "status", "reason", "amount", "created_at")}
        if payment
        else None
    )
    show_with_rows(
        summary,
        "lines",
        order.lines,
        as_json=as_json,
        record_columns=ORDER_DETAIL_COLUMNS,
        row_columns=LINE_COLUMNS,
        title=f"order {order_id}",
        rows_title="lines (VND)",
    )
    if as_json:
        return
    if payment is None:
        click.echo("payment: none yet")
    else:
        click.echo(f"payment: {payment.status}" + (f" ({payment.reason})" if payment.reason else ""))
