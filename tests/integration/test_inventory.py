"""Inventory against a real RabbitMQ and PostgreSQL, with checkout and payment played by the test."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from tests.contract_data import SampleCluster, publish_event, server
from tests.infrastructure import running

pytestmark = pytest.mark.integration


def settled(requested: dict, price: int = 1000, **overrides) -> dict:
    ids = [r["resource_id"] for r in requested["resources"]]
    return {
        "payment_id": str(uuid.uuid4()),
        "order_id": str(uuid.uuid4()),
        "request_id": requested["request_id"],
        "round": requested["round"],
        "customer_id": requested["customer_id"],
        "cluster_id": requested["cluster_id"],
        "amount": price * len(ids),
        "currency": "VND",
        "method": "credit_wallet",
        "balance_after": 0,
        "resource_ids": ids,
        "settled_at": datetime(2026, 1, 31, 8, tzinfo=UTC).isoformat(),
        "lines": [{"resource_id": rid, "total": price} for rid in ids],
        **overrides,
    }


async def press_stop_poc(client, cluster: SampleCluster, **terms) -> tuple[dict, dict]:
    """Register the cluster, press Stop POC and wait for round 1: the request and the round."""
    await cluster.register(client)
    request = cluster.stop_request(**terms)
    await client.send("inventory.stop_poc.request", request)
    return request, await requested_round(client, request["request_id"])


async def requested_round(client, request_id: str, round_: int = 1) -> dict:
    event = await client.wait_for(
        "stop_poc.requested", lambda d: d["request_id"] == request_id and d["round"] == round_
    )
    return event.data


async def test_registrations_and_deletions_are_confirmed_by_events(settings, client):
    cluster = SampleCluster()
    async with running(settings, "inventory"):
        await cluster.register(client)
        doomed = cluster.servers[0]["resource_id"]
        await client.send("inventory.resource.delete", {"resource_id": doomed})
        deleted = await client.wait_for("resource.deleted")

    registered = await client.wait_for("cluster.registered")
    assert registered.data == {"cluster_id": cluster.cluster_id, "customer_id": cluster.customer_id, "poc": True}
    assert len(client.seen("resource.registered")) == len(cluster.resources)
    assert deleted.data == {"resource_id": doomed, "cluster_id": cluster.cluster_id}


async def test_a_paid_round_makes_its_resources_real_and_stops_the_cluster_poc(settings, client, database):
    cluster = SampleCluster()
    async with running(settings, "inventory"):
        request, round_1 = await press_stop_poc(client, cluster, usage_cycle_months=3, auto_renew=True)
        await publish_event(client, "payment.settled", settled(round_1))
        stopped = await client.wait_for_outcome(request["request_id"])

    assert sorted(r["resource_id"] for r in round_1["resources"]) == cluster.convertible_ids
    assert round_1["usage_cycle_months"] == 3 and round_1["auto_renew"] is True
    assert stopped.routing_key == "cluster.poc_stopped" and stopped.data["rounds"] == 1
    converted = (await client.wait_for("resources.converted")).data
    assert sorted(converted["resource_ids"]) == cluster.convertible_ids
    assert converted["paid_until"].startswith("2026-04-30")  # 31 January plus 3 months
    rows = await database.fetch(
        "SELECT resource_id, kind, billing, auto_renew, usage_cycle_months, spec FROM inventory.resources"
    )
    by_kind = {r["resource_id"]: r for r in rows}
    for rid in cluster.convertible_ids:
        assert (by_kind[rid]["billing"], by_kind[rid]["auto_renew"], by_kind[rid]["usage_cycle_months"]) == (
            "real",
            True,
            3,
        )
    for other in cluster.others:
        assert by_kind[other["resource_id"]]["billing"] == "poc"
    assert json.loads(by_kind[cluster.servers[0]["resource_id"]]["spec"]) == cluster.servers[0]["spec"]
    assert await database.fetchval("SELECT poc FROM inventory.clusters") is False


async def test_a_node_that_joins_during_the_conversion_gets_the_next_round(settings, client):
    cluster = SampleCluster()
    async with running(settings, "inventory"):
        request, round_1 = await press_stop_poc(client, cluster)
        newcomer = server(cluster.cluster_id)
        await client.send("inventory.resource.upsert", newcomer)
        await client.wait_for("resource.registered", lambda d: d["resource_id"] == newcomer["resource_id"])
        await publish_event(client, "payment.settled", settled(round_1))
        round_2 = await requested_round(client, request["request_id"], 2)
        assert not client.seen("cluster.poc_stopped")
        await publish_event(client, "payment.settled", settled(round_2))
        stopped = await client.wait_for_outcome(request["request_id"])

    assert [r["resource_id"] for r in round_2["resources"]] == [newcomer["resource_id"]]
    assert stopped.data["rounds"] == 2


async def test_a_failed_payment_puts_the_resources_back_to_poc_for_another_try(settings, client, database):
    cluster = SampleCluster()
    async with running(settings, "inventory"):
        first, round_1 = await press_stop_poc(client, cluster)
        await publish_event(
            client,
            "payment.failed",
            {
                "order_id": "o-1",
                "request_id": first["request_id"],
                "round": 1,
                "customer_id": cluster.customer_id,
                "cluster_id": cluster.cluster_id,
                "reason": "insufficient_funds",
                "amount": 900,
                "balance": 100,
                "shortfall": 800,
            },
        )
        failed = await client.wait_for_outcome(first["request_id"])
        second = cluster.stop_request()
        await client.send("inventory.stop_poc.request", second)
        retried = await requested_round(client, second["request_id"])

    assert failed.routing_key == "stop_poc.failed"
    assert (failed.data["reason"], failed.data["round"]) == ("insufficient_funds", 1)
    assert "shortfall 800" in failed.data["detail"]
    assert sorted(r["resource_id"] for r in retried["resources"]) == sorted(
        r["resource_id"] for r in round_1["resources"]
    )
    assert await database.fetchval("SELECT count(*) FROM inventory.resources WHERE billing = 'real'") == 0


async def test_an_unpriceable_round_fails_the_conversion(settings, client):
    cluster = SampleCluster()
    async with running(settings, "inventory"):
        request, _ = await press_stop_poc(client, cluster)
        await publish_event(
            client,
            "order.rejected",
            {
                "request_id": request["request_id"],
                "round": 1,
                "customer_id": cluster.customer_id,
                "cluster_id": cluster.cluster_id,
                "reason": "unpriced_resource",
                "detail": "srv-x: flavor weird",
            },
        )
        failed = await client.wait_for_outcome(request["request_id"])

    assert (failed.routing_key, failed.data["reason"]) == ("stop_poc.failed", "unpriced_resource")


async def test_a_second_request_while_one_is_in_flight_is_rejected_and_a_repeat_is_ignored(settings, client):
    cluster = SampleCluster()
    async with running(settings, "inventory"):
        await cluster.register(client)
        request = cluster.stop_request()
        sent = await client.send("inventory.stop_poc.request", request)
        await requested_round(client, request["request_id"])
        await client.send("inventory.stop_poc.request", request, message_id=sent.id)  # redelivered
        await client.send("inventory.stop_poc.request", request)  # the portal retried
        other = cluster.stop_request()
        await client.send("inventory.stop_poc.request", other)
        rejected = await client.wait_for_outcome(other["request_id"])

    assert (rejected.routing_key, rejected.data["reason"]) == ("stop_poc.rejected", "conversion_in_progress")
    assert len(client.seen("stop_poc.requested")) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"cluster_id": "no-such-cluster"}, "cluster_not_found"),
        ({"customer_id": "someone-else"}, "cluster_not_owned"),
        ({"resource_ids": ["no-such-resource"]}, "resource_not_found"),
        ("load_balancer", "resource_not_convertible"),
    ],
)
async def test_a_request_that_cannot_be_met_is_rejected_with_its_reason(settings, client, change, reason):
    cluster = SampleCluster()
    if change == "load_balancer":
        change = {"resource_ids": [cluster.others[0]["resource_id"], cluster.servers[0]["resource_id"]]}
    async with running(settings, "inventory"):
        await cluster.register(client)
        request = cluster.stop_request(**change)
        await client.send("inventory.stop_poc.request", request)
        rejected = await client.wait_for_outcome(request["request_id"])

    assert (rejected.routing_key, rejected.data["reason"]) == ("stop_poc.rejected", reason)
    assert rejected.data["detail"]
    assert not client.seen("stop_poc.requested")


async def test_a_cluster_whose_resources_were_all_converted_one_by_one_stops_without_an_order(settings, client):
    cluster = SampleCluster()
    for resource in [*cluster.servers, *cluster.volumes]:
        resource["billing"] = "real"
    async with running(settings, "inventory"):
        await cluster.register(client)
        request = cluster.stop_request()
        await client.send("inventory.stop_poc.request", request)
        stopped = await client.wait_for_outcome(request["request_id"])
        again = cluster.stop_request()
        await client.send("inventory.stop_poc.request", again)
        rejected = await client.wait_for_outcome(again["request_id"])

    assert (stopped.routing_key, stopped.data["rounds"]) == ("cluster.poc_stopped", 0)
    assert not client.seen("stop_poc.requested")
    assert rejected.data["reason"] == "cluster_not_poc"


async def test_a_resource_deleted_while_its_round_is_paid_is_refunded_not_converted(settings, client, database):
    cluster = SampleCluster()
    async with running(settings, "inventory"):
        request, round_1 = await press_stop_poc(client, cluster)
        gone = cluster.volumes[2]["resource_id"]
        await client.send("inventory.resource.delete", {"resource_id": gone})
        await client.wait_for("resource.deleted")
        payment = settled(round_1, price=5000)
        await publish_event(client, "payment.settled", payment)
        await client.wait_for_outcome(request["request_id"])

    converted = (await client.wait_for("resources.converted")).data["resource_ids"]
    assert gone not in converted and len(converted) == len(cluster.convertible_ids) - 1
    refunds = await database.fetch("SELECT body FROM inventory.outbox WHERE routing_key = 'payment.wallet.credit'")
    assert [json.loads(r["body"])["data"] for r in refunds] == [
        {"customer_id": cluster.customer_id, "amount": 5000, "reference": f"refund:{payment['payment_id']}:{gone}"}
    ]


async def test_a_redelivered_settlement_changes_nothing(settings, client, database):
    cluster = SampleCluster()
    one_at_a_time = settings.model_copy(update={"prefetch": 1})  # so the marker is handled last
    async with running(one_at_a_time, "inventory"):
        request, round_1 = await press_stop_poc(client, cluster)
        payment = settled(round_1)
        first = await publish_event(client, "payment.settled", payment)
        await client.wait_for_outcome(request["request_id"])
        await publish_event(client, "payment.settled", payment, message_id=first.id)
        await publish_event(client, "payment.settled", payment)
        marker = SampleCluster()
        await marker.register(client)  # handled after the redeliveries: they are done by now

    assert len(client.seen("resources.converted")) == 1
    assert len(client.seen("cluster.poc_stopped")) == 1
    assert await database.fetchval("SELECT count(*) FROM inventory.inbox WHERE type LIKE '%payment.settled%'") == 2


async def test_a_resource_made_real_elsewhere_while_its_round_is_paid_is_refunded_not_charged_twice(
    settings, client, database
):
    cluster = SampleCluster()
    async with running(settings, "inventory"):
        request, round_1 = await press_stop_poc(client, cluster)
        # The customer converted this server on the vServer portal meanwhile.
        converted_elsewhere = {**cluster.servers[1], "billing": "real"}
        await client.send("inventory.resource.upsert", converted_elsewhere)
        await client.wait_for(
            "resource.registered",
            lambda d: d["resource_id"] == converted_elsewhere["resource_id"] and d["billing"] == "real",
        )
        payment = settled(round_1, price=7000)
        await publish_event(client, "payment.settled", payment)
        stopped = await client.wait_for_outcome(request["request_id"])

    rid = converted_elsewhere["resource_id"]
    assert stopped.routing_key == "cluster.poc_stopped"
    assert rid not in (await client.wait_for("resources.converted")).data["resource_ids"]
    refunds = await database.fetch("SELECT body FROM inventory.outbox WHERE routing_key = 'payment.wallet.credit'")
    assert [json.loads(r["body"])["data"] for r in refunds] == [
        {"customer_id": cluster.customer_id, "amount": 7000, "reference": f"refund:{payment['payment_id']}:{rid}"}
    ]
    holds = await database.fetchval("SELECT count(*) FROM inventory.resources WHERE converting_request_id IS NOT NULL")
    assert holds == 0
