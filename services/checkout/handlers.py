"""Checkout: prices each round of a conversion and emits an order or a rejection; prices
quotes; keeps coupons and the redemption each order with a coupon reserves."""

import dataclasses
from typing import Any

from stoppoc.contract.base import Rejection
from stoppoc.contract.commands import CouponUpsert
from stoppoc.contract.events import (
    OrderCreated,
    OrderLine,
    OrderRejected,
    PaymentFailed,
    PaymentSettled,
    StopPocRequested,
)
from stoppoc.contract.replies import QuoteFund, QuotePrice, QuoteRejected
from stoppoc.services.checkout import coupons, domain, pricing
from stoppoc.shared.handlers import Forward, HandlerRegistry, Reply
from stoppoc.shared.ids import derived_id
from stoppoc.shared.unit_of_work import UnitOfWork

registry = HandlerRegistry()
CURRENCY = "VND"
# The fields of a stop_poc.requested an order or a rejection repeats.
_ROUND = {"request_id", "round", "customer_id", "cluster_id"}
_TERMS = {"usage_cycle_months", "auto_renew"}


def order_id_for(request_id: str, round_: int) -> str:
    return derived_id("order", request_id, round_)


@registry.on("stop_poc.requested")
async def price_round(event: StopPocRequested, uow: UnitOfWork) -> None:
    await uow.q.lock_round(request_id=event.request_id, round=event.round)
    if await uow.q.round_decided(request_id=event.request_id, round=event.round):
        return  # the same round, redelivered under another message id
    outcome = await pricing.price(uow, event, lock_coupon=True)
    if isinstance(outcome, Rejection):
        await reject(event, outcome, uow)
    else:
        await create_order(event, outcome, uow)


@registry.query("checkout.quote.price")
async def price_quote(request: QuotePrice, uow: UnitOfWork) -> Forward | Reply:
    """Priced like an order but reserving nothing; payment adds the wallet and answers the caller."""
    outcome = await pricing.price(uow, request, lock_coupon=False)
    if isinstance(outcome, Rejection):
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
    await uow.q.upsert_coupon(**dataclasses.asdict(coupons.from_command(command)))


@registry.on("payment.settled")
async def redeem_coupon(event: PaymentSettled, uow: UnitOfWork) -> None:
    await uow.q.settle_redemption(order_id=event.order_id, status="redeemed")


@registry.on("payment.failed")
async def release_coupon(event: PaymentFailed, uow: UnitOfWork) -> None:
    """A failed payment gives the coupon back: the redemption no longer counts to its limits."""
    await uow.q.settle_redemption(order_id=event.order_id, status="released")


def totals(order: domain.Order) -> dict[str, Any]:
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
    await uow.q.insert_order(order=created.model_dump(mode="json"))
    await uow.emit(created)
    if order.coupon_code is not None:
        await uow.q.reserve_redemption(
            order_id=created.order_id,
            code=order.coupon_code,
            customer_id=event.customer_id,
            discount=order.coupon_discount,
        )


async def reject(event: StopPocRequested, rejection: Rejection, uow: UnitOfWork) -> None:
    rejected = OrderRejected(
        **event.model_dump(include=_ROUND),
        reason=rejection.reason,
        detail=rejection.detail,
    )
    # Stored from the very data it announces.
    await uow.q.insert_rejection(rejection=rejected.model_dump(mode="json"))
    await uow.emit(rejected)
