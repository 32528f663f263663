"""The checkout service against a real RabbitMQ and PostgreSQL, with the sample catalog."""

import json
import uuid

import pytest

from stoppoc.contract.events import OrderCreated
from stoppoc.services.checkout.handlers import order_id_for
from tests.contract_data import handled, publish_event, wait_until
from tests.infrastructure import running

pytestmark = pytest.mark.integration

SERVER = {"resource_id": "srv-1", "kind": "server", "spec": {"flavor": "general-4c8g", "vcpu": 4, "ram_gib": 8}}
BOOT = {
    "resource_id": "vol-1",
    "kind": "volume",
    "spec": {"size_gib": 20, "volume_type": "ssd-standard", "role": "boot"},
}
PVC = {"resource_id": "vol-2", "kind": "volume", "spec": {"size_gib": 100, "volume_type": "ssd-premium", "role": "pvc"}}

# Not in the catalog: a flavor with no price, and a kind that is never priced.
GPU_SERVER = {"resource_id": "srv-9", "kind": "server", "spec": {"flavor": "gpu-a100", "vcpu": 8, "ram_gib": 64}}
LOAD_BALANCER = {"resource_id": "lb-1", "kind": "load_balancer", "spec": {}}


def requested(**overrides) -> dict:
    return {
        "request_id": str(uuid.uuid4()),
        "round": 1,
        "customer_id": "cus-1",
        "cluster_id": "cl-1",
        "usage_cycle_months": 12,
        "auto_renew": True,
        "coupon_code": None,
        "resources": [SERVER, BOOT, PVC],
        **overrides,
    }


def for_request(request_id: str):
    return lambda data: data["request_id"] == request_id


async def test_a_round_is_priced_from_the_catalog_into_an_order(settings, client, database):
    data = requested()
    async with running(settings, "checkout"):
        sent = await publish_event(client, "stop_poc.requested", data)
        created = await client.wait_for("order.created", for_request(data["request_id"]))

    order = OrderCreated.model_validate(created.data)
    # 12 months of 1,200,000 + 20 GiB × 3,000 + 100 GiB × 5,000, less the 12-month cycle's 10%;
    # VAT is 10/110 of each line's total.
    assert [
        (line.resource_id, line.amount, line.cycle_discount, line.discount, line.tax, line.total)
        for line in order.lines
    ] == [
        ("srv-1", 14_400_000, 1_440_000, 1_440_000, 1_178_182, 12_960_000),
        ("vol-1", 720_000, 72_000, 72_000, 58_909, 648_000),
        ("vol-2", 6_000_000, 600_000, 600_000, 490_909, 5_400_000),
    ]
    assert (order.subtotal, order.discount, order.tax, order.total) == (21_120_000, 2_112_000, 1_728_000, 19_008_000)
    assert (order.currency, order.usage_cycle_months, order.auto_renew, order.round) == ("VND", 12, True, 1)
    assert order.order_id == order_id_for(data["request_id"], 1)
    assert (created.correlationid, created.causationid, created.subject) == (data["request_id"], sent.id, "cl-1")
    row = await database.fetchrow("SELECT * FROM checkout.orders WHERE order_id = $1", order.order_id)
    assert (row["total"], row["tax"], row["request_id"]) == (19_008_000, 1_728_000, data["request_id"])
    assert [line["total"] for line in json.loads(row["lines"])] == [12_960_000, 648_000, 5_400_000]


@pytest.mark.parametrize(
    ("overrides", "reason", "named"),
    [
        ({"resources": [SERVER, GPU_SERVER]}, "unpriced_resource", "srv-9 (server flavor 'gpu-a100')"),
        ({"resources": [LOAD_BALANCER]}, "unpriced_resource", "lb-1 (load_balancer"),
        ({"usage_cycle_months": 2}, "invalid_usage_cycle", "2 months"),
        ({"coupon_code": "welcome10"}, "coupon_not_found", "'WELCOME10'"),
    ],
)
async def test_a_round_that_cannot_be_priced_is_rejected_with_its_reason(
    settings, client, database, overrides, reason, named
):
    data = requested(**overrides)
    async with running(settings, "checkout"):
        await publish_event(client, "stop_poc.requested", data)
        rejected = await client.wait_for("order.rejected", for_request(data["request_id"]))

    assert rejected.data["reason"] == reason and named in rejected.data["detail"]
    assert (rejected.data["round"], rejected.data["customer_id"], rejected.data["cluster_id"]) == (1, "cus-1", "cl-1")
    assert not client.seen("order.created")
    row = await database.fetchrow("SELECT reason, detail FROM checkout.order_rejections")
    assert (row["reason"], row["detail"]) == (reason, rejected.data["detail"])
    assert await database.fetchval("SELECT count(*) FROM checkout.orders") == 0


async def test_a_round_redelivered_under_any_message_id_makes_one_order(settings, client, database):
    data = requested()
    marker = requested(round=2, request_id=data["request_id"], resources=[BOOT])
    # One message at a time, so the marker's order proves the copies before it were handled.
    async with running(settings.model_copy(update={"prefetch": 1}), "checkout"):
        first = await publish_event(client, "stop_poc.requested", data)
        await publish_event(client, "stop_poc.requested", data, message_id=first.id)  # the same message again
        again = await publish_event(client, "stop_poc.requested", data)  # the same round, another message
        await publish_event(client, "stop_poc.requested", marker)
        await client.wait_for("order.created", lambda d: d["round"] == 2)
        assert await handled(database, "checkout", again.id)  # taken as done, not failed and dead-lettered

    assert [e.data["round"] for e in client.seen("order.created")] == [1, 2]
    rounds = await database.fetch(
        "SELECT round FROM checkout.orders WHERE request_id = $1 ORDER BY round", data["request_id"]
    )
    assert [r["round"] for r in rounds] == [1, 2]


async def test_copies_of_a_round_handled_at_once_decide_once(settings, client, database):
    data = requested(coupon_code="UNKNOWN")  # a rejection: its table is guarded like the orders
    async with running(settings, "checkout"):
        copies = [await publish_event(client, "stop_poc.requested", data) for _ in range(6)]
        await wait_until(lambda: handled(database, "checkout", *(c.id for c in copies)), what="copies handled")

    assert await database.fetchval("SELECT count(*) FROM checkout.order_rejections") == 1
    assert await database.fetchval("SELECT count(*) FROM checkout.outbox WHERE routing_key = 'order.rejected'") == 1


async def test_each_customers_orders_are_numbered_as_created_and_rejections_take_no_number(settings, client, database):
    first, rejected, second = requested(), requested(coupon_code="UNKNOWN"), requested()
    other = requested(customer_id="cus-2")
    async with running(settings.model_copy(update={"prefetch": 1}), "checkout"):  # one at a time: in this order
        for data in (first, rejected, second, other):
            await publish_event(client, "stop_poc.requested", data)
        await client.wait_for("order.created", for_request(other["request_id"]))

    numbers = {e.data["request_id"]: e.data["customer_sequence"] for e in client.seen("order.created")}
    assert numbers == {first["request_id"]: 1, second["request_id"]: 2, other["request_id"]: 1}
    stored = await database.fetch("SELECT request_id, customer_sequence FROM checkout.orders")
    assert {row["request_id"]: row["customer_sequence"] for row in stored} == numbers
