"""Checkout: prices each round of a conversion and emits an order or a rejection; prices
quotes; keeps coupons and the redemption each order with a coupon reserves."""

import dataclasses
import uuid

from pydantic import BaseModel

from shared.contract.commands import CouponUpsert
from shared.contract.events import (
    OrderCreated,
    OrderLine,
    OrderRejected,
    PaymentFailed,
    PaymentSettled,
    StopPocRequested,
)
from shared.contract.replies import QuoteFund, QuotePrice, QuoteRejected
from shared.handlers import Forward, HandlerRegistry, Reply
from shared.unit_of_work import UnitOfWork

from services.checkout import coupons, domain, pricing

registry = HandlerRegistry()
CURRENCY = "VND"
# The fields of a stop_poc.requested an order or a rejection repeats.
_ROUND = {"request_id", "round", "customer_id", "cluster_id"}
_TERMS = {"usage_cycle_months", "auto_renew"}
_IDS = uuid.UUID("3c1f0e52-7b7d-4d3a-9d0e-0000000000c1")


def order_id_for(request_id: str, round_: int) -> str:
    return str(uuid.uuid5(_IDS, f"order:{request_id}:{round_}"))


@registry.on("stop_poc.requested")
async def price_round(event: StopPocRequested, uow: UnitOfWork) -> None:
    await uow.execute("lock_round", event.request_id, event.round)
    if await uow.fetchval("round_decided", event.request_id, event.round):
        return  # the same round, redelivered under another message id
    outcome = await pricing.price(uow, event, lock_coupon=True)
    if isinstance(outcome, domain.Rejection):
        await reject(event, outcome, uow)
    else:
        await create_order(event, outcome, uow)


@registry.query("checkout.quote.price")
async def price_quote(request: QuotePrice, uow: UnitOfWork) -> Forward | Reply:
    """Priced like an order but reserving nothing; payment adds the wallet and answers the caller."""
    outcome = await pricing.price(uow, request, lock_coupon=False)
    if isinstance(outcome, domain.Rejection):
        return Reply(QuoteRejected(cluster_id=request.cluster_id, reason=outcome.reason, detail=outcome.detail))
    return Forward(
        QuoteFund(
            **request.model_dump(include={"customer_id", "cluster_id", "usage_cycle_months"}),
            coupon_code=outcome.coupon_code,
            **totals(outcome),
        )
    )


@registry.on("checkout.coupon.upsert")
async def upsert_coupon(command: CouponUpsert, uow: UnitOfWork) -> None:
    # The coupon's fields are in the order of the query's parameters.
    await uow.execute("upsert_coupon", *dataclasses.astuple(coupons.from_command(command)))


@registry.on("payment.settled")
async def redeem_coupon(event: PaymentSettled, uow: UnitOfWork) -> None:
    await uow.execute("settle_redemption", event.order_id, "redeemed")


@registry.on("payment.failed")
async def release_coupon(event: PaymentFailed, uow: UnitOfWork) -> None:
    """A failed payment gives the coupon back: the redemption no longer counts to its limits."""
    await uow.execute("settle_redemption", event.order_id, "released")


def totals(order: domain.Order) -> dict:
    return {
        "lines": [OrderLine(**dataclasses.asdict(line)) for line in order.lines],
        "subtotal": order.subtotal,
        "discount": order.discount,
        "tax": order.tax,
        "total": order.total,
        "currency": CURRENCY,
    }


async def create_order(event: StopPocRequested, order: domain.Order, uow: UnitOfWork) -> None:
    created = OrderCreated(
        **event.model_dump(include=_ROUND | _TERMS),
        order_id=order_id_for(event.request_id, event.round),
        coupon_code=order.coupon_code,
        **totals(order),
    )
    await record_and_emit(uow, "insert_order", created)
    if order.coupon_code is not None:
        await uow.execute(
            "reserve_redemption", created.order_id, order.coupon_code, event.customer_id, order.coupon_discount
        )


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
