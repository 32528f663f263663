"""Checkout: prices each round of a conversion and each renewal, and emits an order or a
rejection; prices quotes; keeps coupons and the one redemption a conversion with a coupon holds."""

import dataclasses
from typing import Any

from stoppoc.contract.base import OrderKind, Rejection, RenewalReason
from stoppoc.contract.commands import CouponUpsert
from stoppoc.contract.events import (
    OrderCreated,
    OrderLine,
    OrderRejected,
    PaymentFailed,
    PaymentSettled,
    RenewalRequested,
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


def order_id_for(request_id: str, round_: int, kind: OrderKind = OrderKind.CONVERSION) -> str:
    """A renewal's order is named apart from a conversion's: a renewal by hand takes its request's
    id, which a stop request may have used too."""
    if kind is OrderKind.RENEWAL:
        return derived_id("renewal_order", request_id)
    return derived_id("order", request_id, round_)


@registry.on("stop_poc.requested")
async def price_round(event: StopPocRequested, uow: UnitOfWork) -> None:
    conversion = {"kind": OrderKind.CONVERSION.value, "request_id": event.request_id, "round": event.round}
    await uow.q.lock_round(**conversion)
    if await uow.q.round_decided(**conversion):
        return  # the same round, redelivered under another message id
    outcome = await pricing.price(uow, event, await pricing.round_coupon(uow, event))
    if not isinstance(outcome, Rejection) and event.round == 1:
        outcome = domain.check_expected_total(outcome, event.expected_total) or outcome
    header = event.model_dump(include=_ROUND)
    if isinstance(outcome, Rejection):
        await reject(uow, header, outcome)
        return
    created = await create_order(uow, {**header, **event.model_dump(include=_TERMS)}, outcome)
    if outcome.coupon_code is None:
        return
    if event.round == 1:
        await uow.q.reserve_redemption(
            order_id=created.order_id,
            request_id=event.request_id,
            code=outcome.coupon_code,
            customer_id=event.customer_id,
            **_coupon_terms(outcome),
            discount=outcome.coupon_discount,
        )
    else:
        await uow.q.spend_redemption(request_id=event.request_id, discount=outcome.coupon_discount)


def _coupon_terms(order: domain.Order) -> dict[str, Any]:
    assert order.coupon is not None  # only an order priced with a coupon reserves one
    return {"kind": order.coupon.kind, "value": order.coupon.value}


@registry.on("renewal.requested")
async def price_renewal(event: RenewalRequested, uow: UnitOfWork) -> None:
    """Priced like a round (the same catalog and cycle discount), without a coupon: one order."""
    renewal = {"kind": OrderKind.RENEWAL.value, "request_id": event.renewal_id, "round": 1}
    await uow.q.lock_round(**renewal)
    if await uow.q.round_decided(**renewal):
        return
    header = {
        "request_id": event.renewal_id,
        "round": 1,
        "customer_id": event.customer_id,
        "cluster_id": event.cluster_id,
        "kind": OrderKind.RENEWAL,
        "renewal_id": event.renewal_id,
    }
    outcome = await pricing.price(uow, event, None)
    if isinstance(outcome, Rejection):
        await reject(uow, header, outcome)
        return
    terms = {"usage_cycle_months": event.usage_cycle_months, "auto_renew": event.reason == RenewalReason.AUTO_RENEW}
    await create_order(uow, {**header, **terms}, outcome)


@registry.query("checkout.quote.price")
async def price_quote(request: QuotePrice, uow: UnitOfWork) -> Forward | Reply:
    """Priced like an order but reserving nothing; payment adds the wallet and answers the caller."""
    coupon = await pricing.quote_coupon(uow, request.coupon_code, request.customer_id)
    outcome = await pricing.price(uow, request, coupon)
    if isinstance(outcome, Rejection):
        return Reply(QuoteRejected(cluster_id=request.cluster_id, reason=outcome.reason, detail=outcome.detail))
    return Forward(
        QuoteFund(
            **request.model_dump(include={"customer_id", "cluster_id", "usage_cycle_months", "resource_ids"}),
            coupon_code=outcome.coupon_code,
            **totals(outcome),
        )
    )


@registry.on("checkout.coupon.upsert")
async def upsert_coupon(command: CouponUpsert, uow: UnitOfWork) -> None:
    await uow.q.upsert_coupon(**dataclasses.asdict(coupons.from_command(command)))


@registry.on("payment.settled")
async def redeem_coupon(event: PaymentSettled, uow: UnitOfWork) -> None:
    """A round of the conversion was paid: its coupon is used, whatever becomes of later rounds."""
    if event.kind is OrderKind.CONVERSION:
        await uow.q.settle_redemption(request_id=event.request_id, status="redeemed")


@registry.on("payment.failed")
async def release_coupon(event: PaymentFailed, uow: UnitOfWork) -> None:
    """The first round unpaid means no round was: the coupon is given back and no longer counts
    to its limits. A later round unpaid leaves it used by the rounds before."""
    if event.kind is OrderKind.CONVERSION and event.round == 1:
        await uow.q.settle_redemption(request_id=event.request_id, status="released")


def totals(order: domain.Order) -> dict[str, Any]:
    return {
        "lines": [OrderLine(**dataclasses.asdict(line)) for line in order.lines],
        "subtotal": order.subtotal,
        "discount": order.discount,
        "tax": order.tax,
        "total": order.total,
        "currency": CURRENCY,
    }


async def create_order(uow: UnitOfWork, header: dict[str, Any], order: domain.Order) -> OrderCreated:
    created = OrderCreated(
        **header,
        order_id=order_id_for(header["request_id"], header["round"], header.get("kind", OrderKind.CONVERSION)),
        coupon_code=order.coupon_code,
        customer_sequence=await uow.q.next_customer_sequence(customer_id=header["customer_id"]),
        **totals(order),
    )
    await uow.q.insert_order(order=created.model_dump(mode="json"))
    await uow.emit(created)
    return created


async def reject(uow: UnitOfWork, header: dict[str, Any], rejection: Rejection) -> None:
    rejected = OrderRejected(**header, reason=rejection.reason, detail=rejection.detail)
    # Stored from the very data it announces.
    await uow.q.insert_rejection(rejection=rejected.model_dump(mode="json"))
    await uow.emit(rejected)
