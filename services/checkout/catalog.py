"""``stoppoc catalog``: the price list checkout prices rounds and quotes with, as a JSON file.

The file is what ``catalog show --json`` prints and ``catalog load`` takes::

    {"servers": [{"flavor": "general-2c4g", "vcpu": 2, "ram_gib": 4, "monthly_price": 600000}],
     "volumes": [{"volume_type": "ssd-standard", "price_per_gib_month": 3000}]}

Prices are VAT-inclusive integer VND. Loading upserts every entry in one transaction; entries
the file does not name are left as they are.
"""

import json

import click
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contract import validate_data
from shared.errors import InvalidData

from services.admin import fail, with_database
from services.output import json_option, show

# Strict: a price of 1.5, "600000" or true is an error, never a guess. Below 2**63 so it fits a bigint.
_PRICE = {"strict": True, "gt": 0, "lt": 2**63}


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerPrice(_Entry):
    flavor: str = Field(min_length=1)
    vcpu: int = Field(strict=True, gt=0)
    ram_gib: int = Field(strict=True, gt=0)
    monthly_price: int = Field(**_PRICE)


class VolumePrice(_Entry):
    volume_type: str = Field(min_length=1)
    price_per_gib_month: int = Field(**_PRICE)


class PriceList(_Entry):
    servers: list[ServerPrice] = []
    volumes: list[VolumePrice] = []

    @model_validator(mode="after")
    def _each_key_once(self) -> "PriceList":
        if not self.servers and not self.volumes:
            raise ValueError("the file prices nothing: give servers, volumes or both")
        for what, keys in (("flavor", [s.flavor for s in self.servers]),
                           ("volume_type", [v.volume_type for v in self.volumes])):
            if repeated := sorted({k for k in keys if keys.count(k) > 1}):
                raise ValueError(f"{what} {', '.join(map(repr, repeated))} is priced more than once")
        return self


def read_price_list(text: str) -> PriceList:
    """The price list in ``text``; InvalidData saying every problem if it is not a valid one."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidData(f"not JSON: {error}") from error
    if not isinstance(data, dict):
        raise InvalidData('not a price list: expected an object {"servers": [...], "volumes": [...]}')
    return validate_data(PriceList, data)


@click.group()
def catalog() -> None:
    """The price list: server flavors per month and volume types per GiB-month (VAT-inclusive VND)."""


@catalog.command("show")
@json_option
def show_catalog(as_json: bool) -> None:
    """Print the price list; with --json, in the format `catalog load` takes."""

    async def query(conn):
        servers = await conn.fetch(
            "SELECT flavor, vcpu, ram_gib, monthly_price FROM checkout.server_prices ORDER BY flavor"
        )
        volumes = await conn.fetch(
            "SELECT volume_type, price_per_gib_month FROM checkout.volume_prices ORDER BY volume_type"
        )
        return [dict(r) for r in servers], [dict(r) for r in volumes]

    servers, volumes = with_database(query)
    if as_json:
        click.echo(json.dumps({"servers": servers, "volumes": volumes}, indent=2))
        return
    show(servers, ["flavor", "vcpu", "ram_gib", "monthly_price"], as_json=False, title="servers (VND a month)")
    show(volumes, ["volume_type", "price_per_gib_month"], as_json=False, title="volumes (VND a GiB a month)")


_UPSERT_SERVER = """
INSERT INTO checkout.server_prices AS p (flavor, vcpu, ram_gib, monthly_price) VALUES ($1, $2, $3, $4)
ON CONFLICT (flavor) DO UPDATE SET vcpu = excluded.vcpu, ram_gib = excluded.ram_gib,
                                   monthly_price = excluded.monthly_price
WHERE (p.vcpu, p.ram_gib, p.monthly_price) IS DISTINCT FROM (excluded.vcpu, excluded.ram_gib, excluded.monthly_price)
RETURNING xmax = 0 AS added
"""
_UPSERT_VOLUME = """
INSERT INTO checkout.volume_prices AS p (volume_type, price_per_gib_month) VALUES ($1, $2)
ON CONFLICT (volume_type) DO UPDATE SET price_per_gib_month = excluded.price_per_gib_month
WHERE p.price_per_gib_month IS DISTINCT FROM excluded.price_per_gib_month
RETURNING xmax = 0 AS added
"""


@catalog.command("load")
@click.argument("file", type=click.File("r"))
def load_catalog(file) -> None:
    """Add or change the prices in FILE (JSON, the format `catalog show --json` prints), all at once.

    Rounds and quotes priced from then on use them; orders already created keep their prices.
    """
    try:
        price_list = read_price_list(file.read())
    except InvalidData as error:
        fail(f"{file.name}: {error}")

    async def upsert(conn):
        outcomes = []
        async with conn.transaction():
            for entry in price_list.servers:
                outcomes.append(await conn.fetchval(_UPSERT_SERVER, *entry.model_dump().values()))
            for entry in price_list.volumes:
                outcomes.append(await conn.fetchval(_UPSERT_VOLUME, *entry.model_dump().values()))
        return outcomes

    outcomes = with_database(upsert)
    added, changed = outcomes.count(True), outcomes.count(False)
    click.echo(
        f"{file.name}: {len(price_list.servers)} server flavors and {len(price_list.volumes)} volume types;"
        f" {added} added, {changed} changed, {len(outcomes) - added - changed} unchanged"
    )
