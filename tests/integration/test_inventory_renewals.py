"""Inventory's renewals against a real RabbitMQ and PostgreSQL, with checkout and payment played
by the test: what a renewal's payment buys, and what it gives back."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.contract_data import SampleCluster, handled, publish_event, server, unique_id, volume, wait_until
from tests.infrastructure import running
from tests.integration.test_checkout_cli import stoppoc

pytestmark = pytest.mark.integration

PAID_UNTIL = datetime.now(UTC) - timedelta(hours=1)


def paid_cluster(auto_renew: bool = True) -> SampleCluster:
    cluster = SampleCluster(poc=False)
    billing = {"paid_until": PAID_UNTIL.isoformat(), "usage_cycle_months": 1, "auto_renew": auto_renew}
    cluster.servers = [{**server(cluster.cluster_id, billing="real"), **billing}]
    cluster.volumes = [{**volume(cluster.cluster_id, "boot", billing="real"), **billing}]
    cluster.others = []
    return cluster


def paid(renewal: dict, price: int = 1_000) -> dict:
    ids = [r["resource_id"] for r in renewal["resources"]]
    return {
        "payment_id": str(uuid.uuid4()),
        "order_id": str(uuid.uuid4()),
        "request_id": renewal["renewal_id"],
        "round": 1,
        "customer_id": renewal["customer_id"],
        "cluster_id": renewal["cluster_id"],
        "amount": price * len(ids),
        "currency": "VND",
        "method": "credit_wallet",
        "balance_after": 0,
        "resource_ids": ids,
        "settled_at": datetime.now(UTC).isoformat(),
        "lines": [{"resource_id": rid, "total": price} for rid in ids],
        "kind": "renewal",
        "renewal_id": renewal["renewal_id"],
    }


def unpaid(renewal: dict) -> dict:
    return {
        "order_id": str(uuid.uuid4()),
        "request_id": renewal["renewal_id"],
        "round": 1,
        "customer_id": renewal["customer_id"],
        "cluster_id": renewal["cluster_id"],
        "reason": "insufficient_funds",
        "amount": 2_000,
        "balance": 0,
        "shortfall": 2_000,
        "kind": "renewal",
        "renewal_id": renewal["renewal_id"],
    }


async def refunds(database) -> list[dict]:
    rows = await database.fetch("SELECT body FROM inventory.outbox WHERE routing_key = 'payment.wallet.credit'")
    return [json.loads(row["body"])["data"] for row in rows]


async def test_a_resource_deleted_while_its_renewal_is_paid_is_refunded_and_the_others_renewed(
    settings, client, database
):
    cluster = paid_cluster()
    async with running(settings, "inventory"):
        await cluster.register(client)
        renewal = (await client.wait_for("renewal.requested")).data
        gone = cluster.volumes[0]["resource_id"]
        await client.send("inventory.resource.delete", {"resource_id": gone})
        await client.wait_for("resource.deleted")
        payment = paid(renewal, price=4_000)
        await publish_event(client, "payment.settled", payment)
        renewed = (await client.wait_for("resources.renewed")).data

    assert renewed["resource_ids"] == [cluster.servers[0]["resource_id"]]
    assert await refunds(database) == [
        {"customer_id": cluster.customer_id, "amount": 4_000, "reference": f"refund:{payment['payment_id']}:{gone}"}
    ]
    assert await database.fetchval("SELECT count(*) FROM inventory.resources WHERE renewing_id IS NOT NULL") == 0


async def test_a_payment_for_a_renewal_that_failed_already_is_given_back_whole(settings, client, database):
    cluster = paid_cluster()
    async with running(settings, "inventory"):
        await cluster.register(client)
        renewal = (await client.wait_for("renewal.requested")).data
        await publish_event(client, "payment.failed", unpaid(renewal))
        failed = (await client.wait_for("renewal.failed")).data
        late = paid(renewal)
        sent = await publish_event(client, "payment.settled", late)
        await wait_until(lambda: handled(database, "inventory", sent.id), what="the late payment handled")

    assert (failed["reason"], failed["shortfall"], failed["amount"]) == ("insufficient_funds", 2_000, 2_000)
    assert not client.seen("resources.renewed")
    assert sorted(r["reference"] for r in await refunds(database)) == sorted(
        f"refund:{late['payment_id']}:{rid}" for rid in late["resource_ids"]
    )


async def test_a_renewal_by_hand_sent_twice_is_one_renewal(settings, client, database):
    cluster = paid_cluster(auto_renew=False)
    request = {
        "request_id": unique_id("renew"),
        "customer_id": cluster.customer_id,
        "cluster_id": cluster.cluster_id,
        "usage_cycle_months": 3,
    }
    async with running(settings, "inventory"):
        await cluster.register(client)
        # The portal retried: a new message id, the same request.
        sent = [await client.send("inventory.renewal.request", request) for _ in range(2)]
        await wait_until(lambda: handled(database, "inventory", *(m.id for m in sent)), what="both handled")
        requested = (await client.wait_for("renewal.requested")).data

    assert (requested["renewal_id"], requested["reason"], requested["usage_cycle_months"]) == (
        request["request_id"],
        "manual",
        3,
    )
    assert sorted(r["resource_id"] for r in requested["resources"]) == sorted(
        r["resource_id"] for r in cluster.resources
    )
    assert len(client.seen("renewal.requested")) == 1


async def test_a_renewal_whose_resources_are_all_gone_when_paid_fails_and_is_refunded(settings, client, database):
    cluster = paid_cluster()
    async with running(settings, "inventory"):
        await cluster.register(client)
        renewal = (await client.wait_for("renewal.requested")).data
        for resource in cluster.resources:
            await client.send("inventory.resource.delete", {"resource_id": resource["resource_id"]})
        for resource in cluster.resources:
            await client.wait_for("resource.deleted", lambda d, r=resource: d["resource_id"] == r["resource_id"])
        payment = paid(renewal)
        await publish_event(client, "payment.settled", payment)
        failed = (await client.wait_for("renewal.failed")).data

    assert (failed["renewal_id"], failed["reason"]) == (renewal["renewal_id"], "resources_gone")
    assert not client.seen("resources.renewed")
    assert sorted(r["reference"] for r in await refunds(database)) == sorted(
        f"refund:{payment['payment_id']}:{rid}" for rid in payment["resource_ids"]
    )


async def test_clusters_show_has_a_resource_past_its_paid_until_expired_while_its_renewal_is_in_flight(
    settings, client, database
):
    cluster = paid_cluster()
    async with running(settings, "inventory"):
        await cluster.register(client)
        renewal = (await client.wait_for("renewal.requested")).data  # not paid yet: nobody plays checkout
        code, out, err = await stoppoc(settings, "clusters", "show", cluster.cluster_id, "--json")

    assert code == 0, err
    shown = json.loads(out)
    assert {(r["state"], r["renewing"]) for r in shown} == {("expired", renewal["renewal_id"])}
    stages = await database.fetch("SELECT DISTINCT lifecycle_stage FROM inventory.resources")
    assert [row["lifecycle_stage"] for row in stages] == ["active"]  # the stage the sweep keeps meanwhile


SECOND = 1 / 86_400  # a day's fraction: the lifecycle in seconds


def cluster_paid_until(paid_until: datetime, auto_renew: bool = True) -> SampleCluster:
    cluster = paid_cluster(auto_renew)
    for resource in cluster.resources:
        resource["paid_until"] = paid_until.isoformat()
    return cluster


async def test_a_failed_automatic_renewal_is_tried_again_each_retry_period_until_deletion_is_due(
    settings, client, database
):
    lifecycle = {"renewal_retry_days": 0.5 * SECOND, "suspend_after_days": SECOND, "delete_after_days": 2 * SECOND}
    now = datetime.now(UTC)
    cluster = cluster_paid_until(now)
    marker = cluster_paid_until(now + timedelta(seconds=4.5))  # renewed well after the deletion is due
    answers: list[asyncio.Task] = []

    def payment_fails(event) -> None:  # payment, always short of funds
        if event.routing_key == "renewal.requested" and event.data["cluster_id"] == cluster.cluster_id:
            answers.append(asyncio.create_task(publish_event(client, "payment.failed", unpaid(event.data))))

    client.on_event(payment_fails)
    async with running(settings.model_copy(update=lifecycle), "inventory"):
        for each in (cluster, marker):
            await each.register(client)
        await client.wait_for("renewal.requested", lambda d: d["cluster_id"] == marker.cluster_id, timeout=20)
        await asyncio.gather(*answers)

    server = cluster.servers[0]["resource_id"]
    events = [e for e in client.events if e.data.get("cluster_id") == cluster.cluster_id]
    kinds = [e.routing_key for e in events]
    deletion_due = next(
        i for i, e in enumerate(events) if e.routing_key == "resource.deletion_due" and e.data["resource_id"] == server
    )
    attempts = [e.data["renewal_id"] for e in events[:deletion_due] if e.routing_key == "renewal.requested"]
    assert len(attempts) >= 2 and len(set(attempts)) == len(attempts)  # the first, then retries, each its own
    assert kinds.count("renewal.failed") == len(attempts)
    assert "renewal.requested" not in kinds[deletion_due:]  # no retry once deletion is due


async def test_a_resource_registered_past_several_reminders_gets_only_the_closest_then_the_next_in_time(
    settings, client
):
    offsets = {"renewal_reminder_days": [10 * SECOND, 5 * SECOND, 3 * SECOND]}
    now = datetime.now(UTC)
    late = cluster_paid_until(now + timedelta(seconds=2), auto_renew=False)  # 10, 5 and 3 s passed
    marker = cluster_paid_until(now + timedelta(seconds=4.5), auto_renew=False)  # 10 and 5 s passed
    marked = marker.servers[0]["resource_id"]
    async with running(settings.model_copy(update=offsets), "inventory"):
        for each in (late, marker):
            await each.register(client)
        await client.wait_for(
            "resource.expiring", lambda d: d["resource_id"] == marked and round(d["days_left"] / SECOND) == 3
        )

    def reminders(resource_id: str) -> list[int]:
        seen = client.seen("resource.expiring", lambda d: d["resource_id"] == resource_id)
        return [round(e.data["days_left"] / SECOND) for e in seen]

    assert reminders(late.servers[0]["resource_id"]) == [3]
    assert reminders(marked) == [5, 3]
