"""Prices a round or a quote from the database: the one function orders and quotes share,
so an order with the quote's inputs and an unchanged catalog charges the quoted total."""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from stoppoc.contract.base import Rejection
from stoppoc.contract.envelope import utc_now
from stoppoc.contract.events import RequestedResource
from stoppoc.services.checkout import coupons, domain
from stoppoc.services.checkout.price_list import ServerPrice, VolumePrice
from stoppoc.shared.unit_of_work import UnitOfWork


class Terms(Protocol):
    """What pricing reads from a ``stop_poc.requested`` or a ``checkout.quote.price``."""

    @property
    def customer_id(self) -> str: ...
    @property
    def usage_cycle_months(self) -> int: ...
    @property
    def coupon_code(self) -> str | None: ...
    @property
    def resources(self) -> Sequence[RequestedResource]: ...


async def price(uow: UnitOfWork, terms: Terms, *, lock_coupon: bool) -> domain.Order | Rejection:
    """``lock_coupon``: hold the coupon row until the transaction ends, so that the redemption an
    order reserves is counted by every other round priced after it (quotes only read)."""
    coupon = None
    if terms.coupon_code:  # an empty code is no code
        coupon = await coupon_offer(uow, terms.coupon_code, terms.customer_id, lock=lock_coupon)
    return domain.price_round(
        terms.resources,
        await catalog_for(uow, terms.resources),
        domain.PricingRules(uow.settings.vat_percent, uow.settings.usage_cycles),
        usage_cycle_months=terms.usage_cycle_months,
        coupon=coupon,
    )


def priced_at(uow: UnitOfWork) -> datetime:
    """A coupon's validity is judged at the time of the message being priced (when inventory
    published the round, or the caller asked for the quote), not when checkout got to it."""
    return uow.cause.time if uow.cause else utc_now()


async def coupon_offer(
    uow: UnitOfWork, code: str, customer_id: str, *, lock: bool
) -> domain.CouponDiscount | Rejection:
    code = coupons.normalize_code(code)
    coupon = await (uow.q.lock_coupon(code=code) if lock else uow.q.coupon(code=code))
    usage = await uow.q.coupon_usage(code=code, customer_id=customer_id)
    return coupons.offer(code, coupon, usage, customer_id, priced_at(uow))


async def catalog_for(uow: UnitOfWork, resources: Sequence[RequestedResource]) -> domain.Catalog:
    """The prices of the flavors and volume types these resources need."""
    flavors, volume_types = domain.catalog_keys(resources)
    servers: list[ServerPrice] = await uow.q.server_prices(flavors=flavors)
    volumes: list[VolumePrice] = await uow.q.volume_prices(volume_types=volume_types)
    return domain.Catalog(
        server_monthly={s.flavor: s.monthly_price for s in servers},
        volume_gib_monthly={v.volume_type: v.price_per_gib_month for v in volumes},
    )
