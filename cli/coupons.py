"""``stoppoc coupons``: coupons and their redemptions."""

from datetime import UTC, datetime
from typing import Any

import click

from stoppoc.cli.database import fail, read
from stoppoc.cli.output import echo_json, json_option, show, show_with_rows
from stoppoc.cli.sending import command, with_client
from stoppoc.contract.commands import CouponUpsert
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


@coupons.command("upsert")
@click.argument("code")
@click.option("--kind", type=click.Choice(["percent", "fixed"]), required=True, help="Percent off, or VND off.")
@click.option("--value", type=int, required=True, help="The percent (1..100) or the VND amount.")
@click.option("--valid-from", type=click.DateTime(), help="First moment it applies (UTC; inclusive).")
@click.option("--valid-until", type=click.DateTime(), help="Last moment it applies (UTC; inclusive).")
@click.option("--max-redemptions", type=click.IntRange(min=0), help="Redemptions in all.")
@click.option("--per-customer-limit", type=click.IntRange(min=0), help="Redemptions per customer.")
@json_option
def upsert_coupon(
    code: str,
    kind: str,
    value: int,
    valid_from: datetime | None,
    valid_until: datetime | None,
    max_redemptions: int | None,
    per_customer_limit: int | None,
    as_json: bool,
) -> None:
    """Create the coupon CODE, or change it (its redemptions stay): checkout.coupon.upsert."""
    if kind == "percent" and value > 100:
        raise click.UsageError("a percent coupon takes 1..100 percent off")
    if valid_from and valid_until and valid_from > valid_until:
        raise click.UsageError("--valid-from is after --valid-until")
    coupon = command(
        CouponUpsert,
        code=code,
        kind=kind,
        value=value,
        valid_from=valid_from and valid_from.replace(tzinfo=UTC),
        valid_until=valid_until and valid_until.replace(tzinfo=UTC),
        max_redemptions=max_redemptions,
        per_customer_limit=per_customer_limit,
    )
    sent = with_client(lambda client: client.upsert_coupon(coupon))
    if as_json:
        echo_json({"message_id": sent.id, **coupon.model_dump(mode="json")})
    else:
        click.echo(f"sent coupon {normalize_code(code)}: {value}{'%' if kind == 'percent' else ' VND'} off")
