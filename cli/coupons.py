"""``stoppoc coupons``: coupons and their redemptions."""

from typing import Any

import click

from stoppoc.cli.database import fail, read
from stoppoc.cli.output import json_option, show, show_with_rows
from stoppoc.services.checkout.coupons import normalize_code
from stoppoc.services.checkout.queries import QUERIES as CHECKOUT
from stoppoc.shared.queries import BoundQueries

COUPON_COLUMNS = [
    "code",
    "kind",
    "value",
    "valid_from",
    "valid_until",
    "max_redemptions",
    "per_customer_limit",
    "reserved",
    "redeemed",
    "released",
]
REDEMPTION_COLUMNS = ["order_id", "customer_id", "discount", "status", "reserved_at", "settled_at"]


@click.group()
def coupons() -> None:
    """Coupons and their redemptions (reserved with an order, redeemed when paid, released when not)."""


@coupons.command("list")
@json_option
def list_coupons(as_json: bool) -> None:
    async def query(checkout: BoundQueries) -> Any:
        return await checkout.list_coupons(code=None)

    show(read(query, checkout=CHECKOUT), COUPON_COLUMNS, as_json=as_json)


@coupons.command("show")
@click.argument("code")
@json_option
def show_coupon(code: str, as_json: bool) -> None:
    """The coupon CODE (in any case) and each order that used it."""
    code = normalize_code(code)

    async def query(checkout: BoundQueries) -> Any:
        return await checkout.list_coupons(code=code), await checkout.coupon_redemptions(code=code)

    found, redemptions = read(query, checkout=CHECKOUT)
    if not found:
        fail(f"no coupon {code!r}")
    show_with_rows(
        found[0],
        "redemptions",
        redemptions,
        as_json=as_json,
        record_columns=COUPON_COLUMNS,
        row_columns=REDEMPTION_COLUMNS,
        title=f"coupon {code}",
        rows_title="redemptions",
    )
