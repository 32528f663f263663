"""Coupons in checkout against a real RabbitMQ and PostgreSQL: upserts, each reason a coupon is
refused, the redemption an order reserves, and payment (played here) redeeming or releasing it."""

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from stoppoc.contract.envelope import new_envelope
from stoppoc.services.checkout.handlers import order_id_for
from tests.contract_data import handled, publish_event, wait_until
from tests.faults.probes import dead_letters
from tests.infrastructure import running
from tests.integration.test_checkout import BOOT, SERVER, for_request, requested

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
DAY = timedelta(days=1)


def coupon(code: str = "SPRING", **overrides) -> dict:
    return {"code": code, "kind": "percent", "value": 10, **overrides}


async def upsert(client, database, data: dict) -> None:
    sent = await client.send("checkout.coupon.upsert", data)
    await wait_until(lambda: handled(database, "checkout", sent.id), what="coupon upsert handled")


async def order_with(client, code: str | None, customer_id: str = "cus-1"):
    data = requested(coupon_code=code, customer_id=customer_id, usage_cycle_months=1, resources=[SERVER, BOOT])
    await publish_event(client, "stop_poc.requested", data)
    return await client.wait_for("order.created", for_request(data["request_id"]))


async def rejection_for(client, code: str, customer_id: str = "cus-1"):
    data = requested(coupon_code=code, customer_id=customer_id)
    await publish_event(client, "stop_poc.requested", data)
    return (await client.wait_for("order.rejected", for_request(data["request_id"]))).data


def payment_settled(order: dict) -> dict:
    return {
        "payment_id": str(uuid.uuid4()),
        "order_id": order["order_id"],
        "request_id": order["request_id"],
        "round": order["round"],
        "customer_id": order["customer_id"],
        "cluster_id": order["cluster_id"],
        "amount": order["total"],
        "currency": "VND",
        "method": "credit_wallet",
        "balance_after": 0,
        "resource_ids": [line["resource_id"] for line in order["lines"]],
        "settled_at": NOW.isoformat(),
    }


def payment_failed(order: dict) -> dict:
    return {
        "order_id": order["order_id"],
        "request_id": order["request_id"],
        "round": order["round"],
        "customer_id": order["customer_id"],
        "cluster_id": order["cluster_id"],
        "reason": "insufficient_funds",
        "amount": order["total"],
        "balance": 0,
        "shortfall": order["total"],
    }


async def redemption_status(database, order_id: str) -> str | None:
    return await database.fetchval("SELECT status FROM checkout.coupon_redemptions WHERE order_id = $1", order_id)


async def test_an_upsert_creates_or_changes_a_coupon_by_its_code_in_any_case(settings, client, database):
    async with running(settings, "checkout"):
        await upsert(client, database, coupon("spring", valid_until=(NOW + DAY).isoformat()))
        await upsert(client, database, coupon("Spring", kind="fixed", value=250_000, max_redemptions=3))

    rows = await database.fetch("SELECT * FROM checkout.coupons")
    assert [(r["code"], r["kind"], r["value"], r["valid_until"], r["max_redemptions"]) for r in rows] == [
        ("SPRING", "fixed", 250_000, None, 3)
    ]


async def test_a_percent_coupon_above_100_is_dead_lettered_with_its_reason(settings, client, database, names):
    async with running(settings, "checkout"):
        await client.send("checkout.coupon.upsert", coupon("HALF", value=150))
        await upsert(client, database, coupon("FINE"))  # the consumer went on

        [dead] = await dead_letters(settings.amqp_url, names, "checkout")

    assert dead.headers["x-stoppoc-error"] == "invalid_data"
    assert "1 to 100 percent" in dead.headers["x-stoppoc-detail"]
    assert [r["code"] for r in await database.fetch("SELECT code FROM checkout.coupons")] == ["FINE"]


async def test_a_coupon_comes_off_the_order_and_its_redemption_is_reserved(settings, client, database):
    async with running(settings, "checkout"):
        await upsert(client, database, coupon("SAVE", kind="fixed", value=100_000))
        created = (await order_with(client, "save")).data

    # 1,200,000 + 20 GiB × 3,000 = 60,000: 100,000 split 1,200,000 : 60,000 by largest remainder.
    assert [(line["coupon_discount"], line["total"]) for line in created["lines"]] == [
        (95_238, 1_104_762),
        (4_762, 55_238),
    ]
    assert (created["coupon_code"], created["discount"], created["total"]) == ("SAVE", 100_000, 1_160_000)
    row = await database.fetchrow("SELECT * FROM checkout.coupon_redemptions")
    assert (row["order_id"], row["code"], row["customer_id"], row["discount"], row["status"]) == (
        created["order_id"],
        "SAVE",
        "cus-1",
        100_000,
        "reserved",
    )
    assert await database.fetchval("SELECT coupon_code FROM checkout.orders") == "SAVE"


@pytest.mark.parametrize(
    ("stored", "reason", "named"),
    [
        (None, "coupon_not_found", "there is no coupon 'SPRING'"),
        (coupon(valid_from=(NOW + DAY).isoformat()), "coupon_not_yet_valid", "is valid from"),
        (coupon(valid_until=(NOW - DAY).isoformat()), "coupon_expired", "expired at"),
        (coupon(max_redemptions=0), "coupon_exhausted", "used 0 of 0 times"),
    ],
)
async def test_a_coupon_that_cannot_be_used_rejects_the_round_with_its_reason(
    settings, client, database, stored, reason, named
):
    async with running(settings, "checkout"):
        if stored:
            await upsert(client, database, stored)
        rejected = await rejection_for(client, "spring")

    assert rejected["reason"] == reason and named in rejected["detail"]
    assert await database.fetchval("SELECT count(*) FROM checkout.orders") == 0
    assert await database.fetchval("SELECT count(*) FROM checkout.coupon_redemptions") == 0


async def test_the_limits_count_reserved_and_redeemed_but_not_released_redemptions(settings, client, database):
    async with running(settings, "checkout"):
        await upsert(client, database, coupon(max_redemptions=2, per_customer_limit=1))
        first = (await order_with(client, "SPRING", "cus-1")).data  # reserved
        assert (await rejection_for(client, "SPRING", "cus-1"))["reason"] == "coupon_limit_reached"

        settled = await publish_event(client, "payment.settled", payment_settled(first))
        await wait_until(lambda: handled(database, "checkout", settled.id), what="payment.settled handled")
        assert await redemption_status(database, first["order_id"]) == "redeemed"
        limited = await rejection_for(client, "SPRING", "cus-1")
        assert (
            limited["reason"] == "coupon_limit_reached"
            and "cus-1 has used coupon 'SPRING' 1 times" in limited["detail"]
        )

        second = (await order_with(client, "SPRING", "cus-2")).data
        assert (await rejection_for(client, "SPRING", "cus-3"))["reason"] == "coupon_exhausted"

        failed = await publish_event(client, "payment.failed", payment_failed(second))
        await wait_until(lambda: handled(database, "checkout", failed.id), what="payment.failed handled")
        assert await redemption_status(database, second["order_id"]) == "released"
        again = (await order_with(client, "SPRING", "cus-2")).data  # the failed payment gave it back

    assert again["coupon_code"] == "SPRING"
    statuses = await database.fetch(
        "SELECT customer_id, status, settled_at IS NOT NULL AS settled FROM checkout.coupon_redemptions"
        " ORDER BY reserved_at"
    )
    assert [tuple(r) for r in statuses] == [
        ("cus-1", "redeemed", True),
        ("cus-2", "released", True),
        ("cus-2", "reserved", False),
    ]


async def test_payments_of_orders_without_a_coupon_change_nothing(settings, client, database):
    async with running(settings, "checkout"):
        created = (await order_with(client, None)).data
        settled = await publish_event(client, "payment.settled", payment_settled(created))
        failed = await publish_event(client, "payment.failed", payment_failed({**created, "order_id": "unknown"}))
        await wait_until(lambda: handled(database, "checkout", settled.id, failed.id), what="payments handled")

    assert await database.fetchval("SELECT count(*) FROM checkout.coupon_redemptions") == 0


async def test_two_rounds_racing_for_the_last_redemption_do_not_both_get_it(settings, client, database):
    rounds = [requested(coupon_code="LAST", customer_id=f"cus-{n}") for n in (1, 2)]
    async with running(settings, "checkout"):
        await upsert(client, database, coupon("LAST", max_redemptions=1))
        watcher = await asyncpg.connect(settings.database_url)
        try:
            # Hold the coupon row until both rounds are in flight and waiting for it.
            async with database.transaction():
                await database.execute("SELECT 1 FROM checkout.coupons WHERE code = 'LAST' FOR UPDATE")
                sent = [await publish_event(client, "stop_poc.requested", data) for data in rounds]
                await wait_until(lambda: waiting_for_locks(watcher, 2), what="both rounds waiting for the coupon")
        finally:
            await watcher.close()
        await wait_until(lambda: handled(database, "checkout", *(e.id for e in sent)), what="both rounds decided")

    created = await database.fetch("SELECT customer_id FROM checkout.orders")
    rejected = await database.fetch("SELECT customer_id, reason FROM checkout.order_rejections")
    assert len(created) == len(rejected) == 1
    assert rejected[0]["reason"] == "coupon_exhausted" and rejected[0]["customer_id"] != created[0]["customer_id"]
    assert await database.fetchval("SELECT count(*) FROM checkout.coupon_redemptions") == 1


async def waiting_for_locks(conn, count: int) -> bool:
    waiting = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return waiting >= count


async def test_validity_is_judged_at_the_time_the_round_was_published(settings, client, database):
    """A round published before the coupon expired keeps it, however late checkout gets to it."""
    data = requested(coupon_code="LATE")
    envelope = new_envelope("stop_poc.requested", data, source="/tests/fake", correlationid=data["request_id"])
    published_before_expiry = envelope.model_copy(update={"time": NOW - 2 * DAY})
    async with running(settings, "checkout"):
        await upsert(client, database, coupon("LATE", valid_until=(NOW - DAY).isoformat()))
        await client.publish(client.names.events, "stop_poc.requested", published_before_expiry.to_json())
        created = await client.wait_for("order.created", for_request(data["request_id"]))

    assert created.data["coupon_code"] == "LATE"
    assert created.data["order_id"] == order_id_for(data["request_id"], 1)
