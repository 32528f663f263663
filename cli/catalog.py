"""``stoppoc catalog``: the price list checkout prices rounds and quotes with, as a JSON file
(the format is in ``stoppoc.services.checkout.price_list``)."""

import json
from typing import IO

import click

from stoppoc.cli.database import fail, read, write
from stoppoc.cli.output import json_option, show
from stoppoc.contract.errors import InvalidData
from stoppoc.services.checkout import price_list
from stoppoc.services.checkout.queries import QUERIES as CHECKOUT
from stoppoc.shared.queries import BoundQueries


@click.group()
def catalog() -> None:
    """The price list: server flavors per month and volume types per GiB-month (VAT-inclusive VND)."""


@catalog.command("show")
@json_option
def show_catalog(as_json: bool) -> None:
    """Print the price list; with --json, in the format `catalog load` takes."""

    async def query(checkout: BoundQueries) -> price_list.PriceList | None:
        return await price_list.current(checkout)

    current = read(query, checkout=CHECKOUT)
    servers = [s.model_dump() for s in current.servers] if current else []
    volumes = [v.model_dump() for v in current.volumes] if current else []
    if as_json:
        click.echo(json.dumps({"servers": servers, "volumes": volumes}, indent=2))
        return
    show(servers, ["flavor", "vcpu", "ram_gib", "monthly_price"], as_json=False, title="servers (VND a month)")
    show(volumes, ["volume_type", "price_per_gib_month"], as_json=False, title="volumes (VND a GiB a month)")


@catalog.command("load")
@click.argument("file", type=click.File("r"))
def load_price_list(file: IO[str]) -> None:
    """Add or change the prices in FILE (JSON, the format `catalog show --json` prints), all at once.

    Rounds and quotes priced from then on use them; orders already created keep their prices.
    """
    try:
        prices = price_list.read_price_list(file.read())
    except InvalidData as error:
        fail(f"{file.name}: {error}")

    async def upsert(checkout: BoundQueries) -> list[bool | None]:
        return await price_list.upsert(checkout, prices)

    outcomes = write(upsert, CHECKOUT, "checkout")
    added, changed = outcomes.count(True), outcomes.count(False)
    click.echo(
        f"{file.name}: {len(prices.servers)} server flavors and {len(prices.volumes)} volume types;"
        f" {added} added, {changed} changed, {len(outcomes) - added - changed} unchanged"
    )
