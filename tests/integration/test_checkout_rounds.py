"""Checkout across the rounds of a conversion, and renewals, against a real RabbitMQ and
PostgreSQL: one coupon redemption per conversion, released only if no round was paid; renewal
orders priced like a round, without a coupon."""

import uuid

import pytest

from tests.contract_data import handled, publish_event, wait_until
from tests.infrastructure import running
from tests.integration.test_checkout import BOOT, SERVER, for_request, requested
from tests.integration.test_coupons import coupon, payment_failed, payment_settled, upsert

pytestmark = pytest.mark.integration


def round_of(first: dict, round_: int, resources: list[dict]) -> dict:
    return {**first, "round": round_, "resources": resources}


async def order_of(client, data: dict) -> dict:
    await publish_event(client, "stop_poc.requested", data)
    return (
        await client.wait_for(
            "order.created", lambda d: (d["request_id"], d["round"]) == (data["request_id"], data["round"])
        )
    ).data


async def redemptions(database, code: str) -> list[tuple[str, int]]:
    rows = await database.fetch(
        "SELECT status, discount FROM checkout.coupon_redemptions WHERE code = $1 ORDER BY reserved_at", code
    )
    return [(row["status"], row["discount"]) for row in rows]


async def test_a_later_rounds_unpaid_order_keeps_the_coupon_used_by_the_paid_first_round(settings, client, database):
    first = requested(coupon_code="once", usage_cycle_months=1, resources=[BOOT])
    async with running(settings, "checkout"):
        await upsert(client, database, coupon("ONCE", kind="fixed", value=100_000, per_customer_limit=1))
        round_1 = await order_of(client, first)
        await publish_event(client, "payment.settled", payment_settled(round_1))
        round_2 = await order_of(client, round_of(first, 2, [SERVER]))
        await publish_event(client, "payment.failed", payment_failed(round_2))
        # The customer's one use is spent: another conversion of theirs cannot have it.
        other = requested(coupon_code="ONCE", usage_cycle_months=1)
        await publish_event(client, "stop_poc.requested", other)
        refused = (await client.wait_for("order.rejected", for_request(other["request_id"]))).data

    off = [sum(line["coupon_discount"] for line in o["lines"]) for o in (round_1, round_2)]
    assert off == [60_000, 40_000]  # the 20 GiB boot volume's 60,000, then what is left of 100,000
    assert await redemptions(database, "ONCE") == [("redeemed", 100_000)]
    assert refused["reason"] == "coupon_limit_reached"


async def test_an_unpaid_first_round_gives_the_coupon_back(settings, client, database):
    first = requested(coupon_code="ONCE", resources=[SERVER])
    async with running(settings, "checkout"):
        await upsert(client, database, coupon("ONCE", max_redemptions=1))
        round_1 = await order_of(client, first)
        failed = await publish_event(client, "payment.failed", payment_failed(round_1))
        # Checkout handles its messages concurrently: the next press comes after the failure is handled.
        await wait_until(lambda: handled(database, "checkout", failed.id), what="the failed payment handled")
        again = await order_of(client, requested(coupon_code="ONCE", resources=[SERVER]))

    assert again["coupon_code"] == "ONCE"
    assert [status for status, _ in await redemptions(database, "ONCE")] == ["released", "reserved"]


async def test_a_renewal_is_priced_like_a_round_without_a_coupon_and_its_order_says_so(settings, client, database):
    renewal_id = str(uuid.uuid4())
    renewal = {
        "renewal_id": renewal_id,
        "customer_id": "cus-1",
        "cluster_id": "cl-1",
        "usage_cycle_months": 12,
        "resources": [SERVER, BOOT],
        "reason": "auto_renew",
    }
    offered = {**renewal, "renewal_id": str(uuid.uuid4()), "usage_cycle_months": 2}
    async with running(settings, "checkout"):
        await publish_event(client, "renewal.requested", renewal)
        await publish_event(client, "renewal.requested", offered)
        created = (await client.wait_for("order.created", for_request(renewal_id))).data
        rejected = (await client.wait_for("order.rejected", for_request(offered["renewal_id"]))).data
        conversion = await order_of(client, requested(usage_cycle_months=12, resources=[SERVER, BOOT]))

    assert (created["kind"], created["renewal_id"], created["round"], created["auto_renew"]) == (
        "renewal",
        renewal_id,
        1,
        True,
    )
    assert created["coupon_code"] is None and created["total"] == conversion["total"]
    assert (rejected["kind"], rejected["renewal_id"], rejected["reason"]) == (
        "renewal",
        offered["renewal_id"],
        "invalid_usage_cycle",
    )
    kinds = await database.fetch("SELECT kind, renewal_id FROM checkout.orders ORDER BY created_at")
    assert [(row["kind"], row["renewal_id"]) for row in kinds] == [("renewal", renewal_id), ("conversion", None)]


async def test_a_renewal_whose_id_a_stop_request_used_too_gets_its_own_order_once(settings, client, database):
    shared_id = str(uuid.uuid4())  # a renewal by hand takes its request's id, whatever used it before
    renewal = {
        "renewal_id": shared_id,
        "customer_id": "cus-1",
        "cluster_id": "cl-1",
        "usage_cycle_months": 1,
        "resources": [BOOT],
        "reason": "manual",
    }
    async with running(settings.model_copy(update={"prefetch": 1}), "checkout"):
        conversion = await order_of(client, requested(request_id=shared_id, resources=[SERVER]))
        copies = [await publish_event(client, "renewal.requested", renewal) for _ in range(2)]
        renewed = (await client.wait_for("order.created", lambda d: d["kind"] == "renewal")).data
        await wait_until(lambda: handled(database, "checkout", *(c.id for c in copies)), what="both copies handled")

    assert renewed["request_id"] == conversion["request_id"] == shared_id
    assert renewed["order_id"] != conversion["order_id"]
    assert renewed["total"] == 60_000  # 20 GiB of ssd-standard for a month
    rows = await database.fetch("SELECT kind FROM checkout.orders WHERE request_id = $1 ORDER BY kind", shared_id)
    assert [row["kind"] for row in rows] == ["conversion", "renewal"]
