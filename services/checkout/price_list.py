"""The price list as a file: what ``stoppoc catalog show --json`` prints and ``stoppoc catalog
load`` takes::

    {"servers": [{"flavor": "general-2c4g", "vcpu": 2, "ram_gib": 4, "monthly_price": 600000}],
     "volumes": [{"volume_type": "ssd-standard", "price_per_gib_month": 3000}]}

Prices are VAT-inclusive integer VND. Loading upserts every entry in one transaction; entries
the file does not name are left as they are.
"""

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stoppoc.contract import validate_data
from stoppoc.contract.errors import InvalidData
from stoppoc.shared.queries import BoundQueries

# Strict: a price of 1.5, "600000" or true is an error, never a guess. Below 2**63 so it fits a bigint.
_PRICE: dict[str, Any] = {"strict": True, "gt": 0, "lt": 2**63}


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
        for what, keys in (
            ("flavor", [s.flavor for s in self.servers]),
            ("volume_type", [v.volume_type for v in self.volumes]),
        ):
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
    price_list: PriceList = validate_data(PriceList, data)
    return price_list


async def current(q: BoundQueries) -> PriceList | None:
    """The whole catalog (None when it is empty)."""
    servers = await q.server_prices(flavors=None)
    volumes = await q.volume_prices(volume_types=None)
    return PriceList(servers=servers, volumes=volumes) if servers or volumes else None


async def upsert(q: BoundQueries, price_list: PriceList) -> list[bool | None]:
    """Add or change every entry (the caller holds the transaction): for each, added, changed or unchanged (None)."""
    outcomes: list[bool | None] = []
    for server in price_list.servers:
        outcomes.append(await q.upsert_server_price(**server.model_dump()))
    for volume in price_list.volumes:
        outcomes.append(await q.upsert_volume_price(**volume.model_dump()))
    return outcomes
