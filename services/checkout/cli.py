"""``stoppoc orders``, ``stoppoc coupons`` and ``stoppoc catalog``: checkout's records for billing staff."""

import json

import click

from services.admin import fail, with_database
from services.checkout.catalog import catalog
from services.checkout.coupons import normalize_code
from services.output import json_option, show, show_with_rows

__all__ = ["catalog", "coupons", "orders"]

ORDER_COLUMNS = ["order_id", "customer_id", "cluster_id", "round", "usage_cycle_months", "coupon_code", "total",
                 "payment", "created_at"]
ORDER_DETAIL_COLUMNS = ["customer_id", "cluster_id", "round", "usage_cycle_months", "auto_renew", "coupon_code",
                        "subtotal", "discount", "tax", "total", "created_at"]
LINE_COLUMNS = ["resource_id", "kind", "amount", "cycle_discount", "coupon_discount", "discount", "tax", "total"]
COUPON_COLUMNS = ["code", "kind", "value", "valid_from", "valid_until", "max_redemptions", "per_customer_limit",
                  "reserved", "redeemed", "released"]
REDEMPTION_COLUMNS = ["order_id", "customer_id", "discount", "status", "reserved_at", "settled_at"]

# An order with the status of its payment (none yet while payment has not taken it).
_ORDERS = """
SELECT o.order_id, o.request_id, o.customer_id, o.cluster_id, o.round, o.usage_cycle_months, o.auto_renew,
       o.coupon_code, o.subtotal, o.discount, o.tax, o.total, o.currency, p.status AS payment, o.created_at,
       o.lines
FROM checkout.orders o LEFT JOIN payment.payments p ON p.order_id = o.order_id
"""
_COUPONS = """
SELECT c.code, c.kind, c.value, c.valid_from, c.valid_until, c.max_redemptions, c.per_customer_limit,
       count(*) FILTER (WHERE r.status = 'reserved') AS reserved,
       count(*) FILTER (WHERE r.status = 'redeemed') AS redeemed,
       count(*) FILTER (WHERE r.status = 'released') AS released,
       c.created_at, c.updated_at
FROM checkout.coupons c LEFT JOIN checkout.coupon_redemptions r ON r.code = c.code
"""


@click.group()
def orders() -> None:
    """Orders checkout priced: lines, discounts, VAT, and whether they were paid."""


@orders.command("list")
@click.option("--customer", help="Only this customer's orders.")
@json_option
def list_orders(customer: str | None, as_json: bool) -> None:
    async def query(conn):
        return await conn.fetch(
            f"{_ORDERS} WHERE $1::text IS NULL OR o.customer_id = $1 ORDER BY o.created_at, o.order_id", customer
        )

    rows = [{k: v for k, v in r.items() if k != "lines"} for r in with_database(query)]
    show(rows, ORDER_COLUMNS, as_json=as_json)


@orders.command("show")
@click.argument("order_id")
@json_option
def show_order(order_id: str, as_json: bool) -> None:
    """The order, its lines and its payment."""

    async def query(conn):
        order = await conn.fetchrow(f"{_ORDERS} WHERE o.order_id = $1", order_id)
        payment = await conn.fetchrow(
            "SELECT payment_id, status, reason, amount, created_at FROM payment.payments WHERE order_id = $1",
            order_id,
        )
        return order, payment

    order, payment = with_database(query)
    if order is None:
        fail(f"no order {order_id!r}")
    summary = {k: v for k, v in order.items() if k not in ("lines", "payment")}
    summary["payment"] = dict(payment) if payment else None
    show_with_rows(summary, "lines", json.loads(order["lines"]), as_json=as_json, record_columns=ORDER_DETAIL_COLUMNS,
                   row_columns=LINE_COLUMNS, title=f"order {order_id}", rows_title="lines (VND)")
    if as_json:
        return
    if payment is None:
        click.echo("payment: none yet")
    else:
        click.echo(f"payment: {payment['status']}" + (f" ({payment['reason']})" if payment["reason"] else ""))


@click.group()
def coupons() -> None:
    """Coupons and their redemptions (reserved with an order, redeemed when paid, released when not)."""


@coupons.command("list")
@json_option
def list_coupons(as_json: bool) -> None:
    async def query(conn):
        return await conn.fetch(f"{_COUPONS} GROUP BY c.code ORDER BY c.code")

    show([dict(r) for r in with_database(query)], COUPON_COLUMNS, as_json=as_json)


@coupons.command("show")
@click.argument("code")
@json_option
def show_coupon(code: str, as_json: bool) -> None:
    """The coupon CODE (in any case) and each order that used it."""
    code = normalize_code(code)

    async def query(conn):
        coupon = await conn.fetchrow(f"{_COUPONS} WHERE c.code = $1 GROUP BY c.code", code)
        redemptions = await conn.fetch(
            "SELECT order_id, customer_id, discount, status, reserved_at, settled_at"
            " FROM checkout.coupon_redemptions WHERE code = $1 ORDER BY reserved_at, order_id",
            code,
        )
        return coupon, redemptions

    coupon, redemptions = with_database(query)
    if coupon is None:
        fail(f"no coupon {code!r}")
    show_with_rows(dict(coupon), "redemptions", redemptions, as_json=as_json, record_columns=COUPON_COLUMNS,
                   row_columns=REDEMPTION_COLUMNS, title=f"coupon {code}", rows_title="redemptions")
