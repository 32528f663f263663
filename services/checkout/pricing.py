"""Prices a round or a quote from the database: the one function orders and quotes share,
so an order with the quote's inputs and an unchanged catalog charges the quoted total."""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from stoppoc.contract.base import Rejection
from stoppoc.contract.envelope import utc_now
from stoppoc.contract.events import RequestedResource, StopPocRequested
from stoppoc.services.checkout import coupons, domain
from stoppoc.services.checkout.price_list import ServerPrice, VolumePrice
from stoppoc.shared.unit_of_work import UnitOfWork


class Terms(Protocol):
    """What pricing reads from a ``stop_poc.requested``, a ``renewal.requested`` or a
    ``checkout.quote.price``."""

    @property
    def usage_cycle_months(self) -> int: ...
    @property
    def resources(self) -> Sequence[RequestedResource]: ...


Coupon = domain.CouponDiscount | Rejection | None


async def price(uow: UnitOfWork, terms: Terms, coupon: Coupon) -> domain.Order | Rejection:
    """``coupon``: its discount, or why it cannot be used (None: no coupon)."""
    return domain.price_round(
        terms.resources,
        await catalog_for(uow, terms.resources),
        domain.PricingRules(uow.settings.vat_percent, uow.settings.usage_cycles),
        usage_cycle_months=terms.usage_cycle_months,
        coupon=coupon,
    )


async def quote_coupon(uow: UnitOfWork, code: str | None, customer_id: str) -> Coupon:
    """A quote is priced like a first round, and reserves nothing."""
    return await coupon_offer(uow, code, customer_id, lock=False) if code else None


async def round_coupon(uow: UnitOfWork, event: StopPocRequested) -> Coupon:
    """The first round is offered the coupon (holding the coupon row until the transaction ends,
    so that the redemption its order reserves is counted by every round priced after it); a
    later round uses the redemption the conversion holds."""
    if not event.coupon_code:  # an empty code is no code
        return None
    if event.round > 1:
        held: coupons.HeldRedemption | None = await uow.q.conversion_redemption(request_id=event.request_id)
        if held is not None and held.status != "released":
            return coupons.still_to_spend(held)
    return await coupon_offer(uow, event.coupon_code, event.customer_id, lock=True)


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
