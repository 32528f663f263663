"""Inventory's quote (request/reply, no side effects) and its POC expiry reminders."""

import json
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest

from stoppoc.contract.envelope import new_envelope
from tests.contract_data import SampleCluster, wait_until
from tests.faults.probes import dead_letters
from tests.infrastructure import running

pytestmark = pytest.mark.integration


def quote_of(cluster: SampleCluster, **overrides) -> dict:
    return {
        "customer_id": cluster.customer_id,
        "cluster_id": cluster.cluster_id,
        "usage_cycle_months": 3,
        "coupon_code": None,
        **overrides,
    }


async def test_a_quote_for_a_cluster_the_customer_cannot_stop_is_answered_with_a_reason(settings, client):
    cluster = SampleCluster()
    async with running(settings, "inventory"):
        await cluster.register(client)
        foreign = await client.request("inventory.stop_poc.quote", quote_of(cluster, customer_id="someone-else"))
        unknown = await client.request("inventory.stop_poc.quote", quote_of(cluster, cluster_id="nowhere"))

    assert foreign.type == "stoppoc.stop_poc.quote_rejected.v1"
    assert (foreign.data["reason"], foreign.data["cluster_id"]) == ("cluster_not_owned", cluster.cluster_id)
    assert unknown.data["reason"] == "cluster_not_found"


async def test_a_quote_goes_on_to_checkout_with_the_poc_servers_and_volumes_and_changes_nothing(
    settings, client, database, names
):
    cluster = SampleCluster()
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection, running(settings, "inventory"):
        channel = await connection.channel()
        # Stand in for checkout: catch what inventory forwards.
        catcher = await channel.declare_queue(exclusive=True)
        await catcher.bind(await channel.get_exchange(names.commands), routing_key="checkout.quote.price")
        await cluster.register(client)
        outbox_before = await database.fetchval("SELECT count(*) FROM inventory.outbox")
        request = new_envelope("inventory.stop_poc.quote", quote_of(cluster), source="/tests/portal")
        await client.publish(
            names.commands,
            "inventory.stop_poc.quote",
            request.to_json(),
            reply_to="portal-replies",
            correlation_id="corr-1",
        )
        caught = []

        async def forwarded() -> bool:
            if message := await catcher.get(fail=False, no_ack=True):
                caught.append(message)
            return bool(caught)

        await wait_until(forwarded, what="the quote forwarded to checkout")

    message = caught[0]
    envelope = json.loads(message.body)
    assert envelope["type"] == "stoppoc.checkout.quote.price.v1"
    assert envelope["causationid"] == request.id
    assert sorted(r["resource_id"] for r in envelope["data"]["resources"]) == cluster.convertible_ids
    assert (message.reply_to, message.correlation_id) == ("portal-replies", "corr-1")
    assert await database.fetchval("SELECT count(*) FROM inventory.outbox") == outbox_before
    assert await database.fetchval("SELECT count(*) FROM inventory.conversions") == 0


async def test_a_quote_without_reply_to_is_dead_lettered_with_its_reason(settings, client, names):
    cluster = SampleCluster()
    async with running(settings, "inventory"):
        await client.send("inventory.stop_poc.quote", quote_of(cluster))
        [dead] = await dead_letters(settings.amqp_url, names, "inventory")

    assert dead.headers["x-stoppoc-error"] == "invalid_data"
    assert "reply_to" in dead.headers["x-stoppoc-detail"]


async def test_customers_are_reminded_before_their_poc_expires_once_per_offset(settings, client, database):
    now = datetime.now(UTC)
    in_a_week = SampleCluster()
    in_a_week.cluster["poc_expires_at"] = (now + timedelta(days=6, hours=12)).isoformat()
    tomorrow = SampleCluster()
    tomorrow.cluster["poc_expires_at"] = (now + timedelta(hours=12)).isoformat()
    later = SampleCluster()
    later.cluster["poc_expires_at"] = (now + timedelta(days=30)).isoformat()
    async with running(settings, "inventory"):
        for cluster in (in_a_week, tomorrow, later):
            await client.send("inventory.cluster.upsert", cluster.cluster)
        first = await client.wait_for("cluster.poc_expiring", lambda d: d["cluster_id"] == in_a_week.cluster_id)
        second = await client.wait_for("cluster.poc_expiring", lambda d: d["cluster_id"] == tomorrow.cluster_id)
        # A cluster registered after many sweeps: when its reminder comes, the others had time to repeat.
        marker = SampleCluster()
        marker.cluster["poc_expires_at"] = (now + timedelta(days=3)).isoformat()
        await client.send("inventory.cluster.upsert", marker.cluster)
        await client.wait_for("cluster.poc_expiring", lambda d: d["cluster_id"] == marker.cluster_id)

    assert (first.data["days_before"], second.data["days_before"]) == (7, 1)
    assert first.data["customer_id"] == in_a_week.customer_id
    # The sweep that reminded the marker also saw the first two again: still one reminder each.
    reminded = await database.fetch("SELECT body FROM inventory.outbox WHERE routing_key = 'cluster.poc_expiring'")
    assert sorted(json.loads(r["body"])["data"]["cluster_id"] for r in reminded) == sorted(
        [in_a_week.cluster_id, tomorrow.cluster_id, marker.cluster_id]
    )
