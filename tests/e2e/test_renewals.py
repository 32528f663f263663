"""Renewals, black-box: auto-renew renews at paid_until, a failed renewal is tried again on a
top-up, a resource not renewed goes through grace, suspension and deletion-due once each, a
renewal by hand resumes a suspended resource, and reminders come before paid_until. The
lifecycle's days are fractions here (STOPPOC_*_DAYS), so that it runs in seconds."""

import json
from datetime import datetime, timedelta

import pytest

from stoppoc.services.inventory.domain import add_months
from tests.contract_data import server, unique_id
from tests.e2e.steps import PURCHASE, about, balance, credit, paid_cluster, seconds_from_now, with_settings
from tests.integration.test_checkout_cli import stoppoc

pytestmark = pytest.mark.e2e

SECOND = 1 / 86_400  # a day's fraction
# Sample catalog prices: a general-2c4g server and a 50 GiB ssd-standard boot volume, a month.
MONTHLY = 600_000 + 50 * 3_000


def in_cluster(cluster):
    return lambda d: d.get("cluster_id") == cluster.cluster_id


def for_resource(resource_id: str):
    return lambda d: d.get("resource_id") == resource_id


def ids(cluster) -> list[str]:
    return sorted(r["resource_id"] for r in cluster.resources)


async def test_auto_renew_renews_at_paid_until_after_its_reminders(services, settings, client, database):
    with_settings(services, renewal_reminder_days=[6 * SECOND, 3 * SECOND])
    await services.start(*PURCHASE)
    paid_until = seconds_from_now(8)
    cluster = paid_cluster(paid_until, auto_renew=True)
    await credit(client, cluster.customer_id, 10_000_000)
    await cluster.register(client)

    renewed = (await client.wait_for("resources.renewed", in_cluster(cluster), timeout=40)).data
    requested = (await client.wait_for("renewal.requested", in_cluster(cluster))).data
    order = (await client.wait_for("order.created", about(requested["renewal_id"]))).data
    paid = (await client.wait_for("payment.settled", about(requested["renewal_id"]))).data

    assert (requested["reason"], requested["usage_cycle_months"]) == ("auto_renew", 1)
    assert sorted(r["resource_id"] for r in requested["resources"]) == ids(cluster)
    assert (order["kind"], order["request_id"], order["total"]) == ("renewal", requested["renewal_id"], MONTHLY)
    assert (paid["kind"], paid["amount"]) == ("renewal", MONTHLY)
    assert renewed["renewal_id"] == requested["renewal_id"] and sorted(renewed["resource_ids"]) == ids(cluster)
    expected_until = add_months(datetime.fromisoformat(paid_until), 1)
    assert datetime.fromisoformat(renewed["paid_until"]) == expected_until
    assert {datetime.fromisoformat(r["previous_paid_until"]) for r in renewed["resources"]} == {
        datetime.fromisoformat(paid_until)
    }
    assert await balance(database, cluster.customer_id) == 10_000_000 - MONTHLY
    for resource_id in ids(cluster):
        reminders = client.seen("resource.expiring", for_resource(resource_id))
        assert sorted(round(e.data["days_left"] / SECOND) for e in reminders) == [3, 6]
    assert not client.seen("resource.expired", in_cluster(cluster))

    # Staff see it: the renewal order, and each resource active until its new date.
    code, out, err = await stoppoc(settings, "orders", "list", "--kind", "renewal", "--json")
    assert code == 0, err
    assert [o["order_id"] for o in json.loads(out)] == [order["order_id"]]
    code, out, err = await stoppoc(settings, "clusters", "show", cluster.cluster_id, "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert {(r["state"], r["auto_renew"]) for r in shown} == {("active", True)}
    assert {datetime.fromisoformat(r["paid_until"]) for r in shown} == {expected_until}


async def test_a_renewal_the_wallet_cannot_pay_fails_and_is_tried_again_on_a_top_up(services, client, database):
    await services.start(*PURCHASE)
    paid_until = seconds_from_now(2)
    cluster = paid_cluster(paid_until, auto_renew=True)
    await cluster.register(client)

    failed = (await client.wait_for("renewal.failed", in_cluster(cluster), timeout=30)).data
    assert (failed["reason"], failed["amount"], failed["shortfall"]) == ("insufficient_funds", MONTHLY, MONTHLY)
    for resource_id in ids(cluster):  # its grace period starts: renewal failed
        await client.wait_for("resource.expired", for_resource(resource_id))
    await credit(client, cluster.customer_id, 1_000_000)
    renewed = (await client.wait_for("resources.renewed", in_cluster(cluster))).data

    assert renewed["renewal_id"] != failed["renewal_id"]
    assert datetime.fromisoformat(renewed["paid_until"]) == add_months(datetime.fromisoformat(paid_until), 1)
    assert await balance(database, cluster.customer_id) == 1_000_000 - MONTHLY
    assert not client.seen("resource.resumed")  # expired, never suspended
    stages = await database.fetch("SELECT lifecycle_stage FROM inventory.resources")
    assert {row["lifecycle_stage"] for row in stages} == {"active"}


async def test_a_resource_not_renewed_goes_through_grace_suspension_and_deletion_due_once_each(services, client):
    with_settings(services, suspend_after_days=2 * SECOND, delete_after_days=4 * SECOND)
    await services.start("inventory")  # nothing is renewed: auto-renew is off
    on_time = paid_cluster(seconds_from_now(1), auto_renew=False)
    late = paid_cluster(seconds_from_now(-60), auto_renew=False)  # registered long after its paid_until
    marker = paid_cluster(seconds_from_now(3), auto_renew=False)  # its deletion comes after the others'
    for cluster in (on_time, late, marker):
        await cluster.register(client)
    await client.wait_for("resource.deletion_due", for_resource(marker.servers[0]["resource_id"]), timeout=40)

    stages = ("resource.expired", "resource.suspended", "resource.deletion_due")
    for cluster in (on_time, late):
        for resource_id in ids(cluster):
            seen = [e for e in client.events if e.routing_key in stages and e.data["resource_id"] == resource_id]
            assert [e.routing_key for e in seen] == list(stages), resource_id
            assert {e.data["customer_id"] for e in seen} == {cluster.customer_id}
    assert not client.seen("renewal.requested")  # auto-renew is off


async def test_a_renewal_by_hand_resumes_a_suspended_resource_and_impossible_ones_are_rejected(services, client):
    with_settings(services, suspend_after_days=2 * SECOND, delete_after_days=3_600 * SECOND)
    await services.start(*PURCHASE)
    cluster = paid_cluster(seconds_from_now(-5), auto_renew=False)
    trial = server(cluster.cluster_id)  # a POC node: not something one renews
    cluster.servers.append(trial)
    await credit(client, cluster.customer_id, 10_000_000)
    await cluster.register(client)
    paid = sorted(set(ids(cluster)) - {trial["resource_id"]})
    for resource_id in paid:
        await client.wait_for("resource.suspended", for_resource(resource_id), timeout=30)

    request = {
        "request_id": unique_id("renew"),
        "customer_id": cluster.customer_id,
        "cluster_id": cluster.cluster_id,
        "usage_cycle_months": 3,
        "resource_ids": paid,
    }
    before = datetime.now().astimezone()
    await client.send("inventory.renewal.request", request)
    renewed = (await client.wait_for("resources.renewed", about(request["request_id"]))).data
    after = datetime.now().astimezone() + timedelta(seconds=1)

    assert sorted(renewed["resource_ids"]) == paid and renewed["usage_cycle_months"] == 3
    assert add_months(before, 3) <= datetime.fromisoformat(renewed["paid_until"]) <= add_months(after, 3)
    resumed = [(await client.wait_for("resource.resumed", for_resource(rid))).data for rid in paid]
    assert {r["paid_until"] for r in resumed} == {renewed["paid_until"]}
    order = (await client.wait_for("order.created", about(request["request_id"]))).data
    assert (order["kind"], order["usage_cycle_months"], order["total"]) == ("renewal", 3, 3 * MONTHLY)

    impossible = {
        "cluster_not_found": {"cluster_id": unique_id("nowhere")},
        "cluster_not_owned": {"customer_id": unique_id("intruder")},
        "resource_not_renewable": {"resource_ids": [trial["resource_id"]]},
        "invalid_usage_cycle": {"usage_cycle_months": 2},
    }
    sent = {reason: {**request, "request_id": unique_id("renew"), **change} for reason, change in impossible.items()}
    for command in sent.values():
        await client.send("inventory.renewal.request", command)
    for reason, command in sent.items():
        rejected = (await client.wait_for("renewal.rejected", about(command["request_id"]))).data
        assert rejected["reason"] == reason, rejected
    assert len(client.seen("resources.renewed")) == 1
