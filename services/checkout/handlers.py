"""Checkout: prices each round of a conversion and emits an order or a rejection."""

import dataclasses
import uuid

from pydantic import BaseModel

from shared.contract.events import OrderCreated, OrderLine, OrderRejected, StopPocRequested
from shared.handlers import HandlerRegistry
from shared.unit_of_work import UnitOfWork

from services.checkout import domain

registry = HandlerRegistry()
CURRENCY = "VND"
# The fields of a stop_poc.requested an order or a rejection repeats.
_ROUND = {"request_id", "round", "customer_id", "cluster_id"}
_TERMS = {"usage_cycle_months", "auto_renew", "coupon_code"}
_IDS = uuid.UUID("3c1f0e52-7b7d-4d3a-9d0e-0000000000c1")


def order_id_for(request_id: str, round_: int) -> str:
    return str(uuid.uuid5(_IDS, f"order:{request_id}:{round_}"))


@registry.on("stop_poc.requested")
async def price_round(event: StopPocRequested, uow: UnitOfWork) -> None:
    await uow.execute("lock_round", event.request_id, event.round)
    if await uow.fetchval("round_decided", event.request_id, event.round):
        return  # the same round, redelivered under another message id
    outcome = domain.price_round(
        event.resources,
        await load_catalog(uow, event),
        domain.PricingRules(uow.settings.vat_percent, tuple(uow.settings.usage_cycles)),
        usage_cycle_months=event.usage_cycle_months,
        coupon_code=event.coupon_code,
    )
    if isinstance(outcome, domain.Rejection):
        await reject(event, outcome, uow)
    else:
        await create_order(event, outcome, uow)


async def load_catalog(uow: UnitOfWork, event: StopPocRequested) -> domain.Catalog:
    flavors, volume_types = domain.catalog_keys(event.resources)
    servers = await uow.fetch("server_prices", flavors)
    volumes = await uow.fetch("volume_prices", volume_types)
    return domain.Catalog(
        server_monthly={r["flavor"]: r["monthly_price"] for r in servers},
        volume_gib_monthly={r["volume_type"]: r["price_per_gib_month"] for r in volumes},
    )


async def create_order(event: StopPocRequested, order: domain.Order, uow: UnitOfWork) -> None:
    created = OrderCreated(
        **event.model_dump(include=_ROUND | _TERMS),
        order_id=order_id_for(event.request_id, event.round),
        lines=[OrderLine(**dataclasses.asdict(line)) for line in order.lines],
        subtotal=order.subtotal,
        discount=order.discount,
        tax=order.tax,
        total=order.total,
        currency=CURRENCY,
    )
    await record_and_emit(uow, "insert_order", created)


async def reject(event: StopPocRequested, rejection: domain.Rejection, uow: UnitOfWork) -> None:
    rejected = OrderRejected(
        **event.model_dump(include=_ROUND),
        reason=rejection.reason,
        detail=rejection.detail,
    )
    await record_and_emit(uow, "insert_rejection", rejected)


async def record_and_emit(uow: UnitOfWork, query: str, message: BaseModel) -> None:
    """Store the decision from the very data it announces, then announce it."""
    await uow.execute(query, message.model_dump_json())
    await uow.emit(message)
