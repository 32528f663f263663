"""Prices a round or a quote from the database: the one function orders and quotes share,
so an order with the quote's inputs and an unchanged catalog charges the quoted total."""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from shared.contract.events import RequestedResource
from shared.envelope import utc_now
from shared.unit_of_work import UnitOfWork

from services.checkout import coupons, domain


class Terms(Protocol):
    """What pricing reads from a ``stop_poc.requested`` or a ``checkout.quote.price``."""

    customer_id: str
    usage_cycle_months: int
    coupon_code: str | None
    resources: Sequence[RequestedResource]


async def price(uow: UnitOfWork, terms: Terms, *, lock_coupon: bool) -> domain.Order | domain.Rejection:
    """``lock_coupon``: hold the coupon row until the transaction ends, so that the redemption an
    order reserves is counted by every other round priced after it (quotes only read)."""
    coupon = None
    if terms.coupon_code:  # an empty code is no code
        coupon = await coupon_offer(uow, terms.coupon_code, terms.customer_id, lock=lock_coupon)
    return domain.price_round(
        terms.resources,
        await load_catalog(uow, terms.resources),
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
) -> domain.CouponDiscount | domain.Rejection:
    code = coupons.normalize_code(code)
    row = await uow.fetchrow("lock_coupon" if lock else "coupon", code)
    usage = await uow.fetchrow("coupon_usage", code, customer_id)
    coupon = coupons.Coupon(**dict(row)) if row else None
    return coupons.offer(code, coupon, coupons.Usage(**dict(usage)), customer_id, priced_at(uow))


async def load_catalog(uow: UnitOfWork, resources: Sequence[RequestedResource]) -> domain.Catalog:
    flavors, volume_types = domain.catalog_keys(resources)
    servers = await uow.fetch("server_prices", flavors)
    volumes = await uow.fetch("volume_prices", volume_types)
    return domain.Catalog(
        server_monthly={r["flavor"]: r["monthly_price"] for r in servers},
        volume_gib_monthly={r["volume_type"]: r["price_per_gib_month"] for r in volumes},
    )
