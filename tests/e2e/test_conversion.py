"""The Stop POC conversion end to end: four service processes, a real broker and database,
driven only through the public contract."""

import pytest

from stoppoc.contract.envelope import Envelope
from tests.contract_data import SampleCluster, server, unique_id, wait_until

pytestmark = pytest.mark.e2e

# Sample catalog prices (services/checkout/migrations): per month, VAT included.
GENERAL_4C8G, GENERAL_2C4G, SSD_STANDARD_GIB, SSD_PREMIUM_GIB = 1_200_000, 600_000, 3_000, 5_000


async def credit(client, customer_id: str, amount: int) -> Envelope:
    reference = unique_id("topup")
    await client.send("payment.wallet.credit", {"customer_id": customer_id, "amount": amount, "reference": reference})
    return await client.wait_for("wallet.credited", lambda d: d["reference"] == reference)


async def funded_conversion(client, funds: int, **terms):
    """A registered sample cluster whose wallet holds ``funds``, pressed Stop POC to the end:
    the cluster, the request, the credit event and the final event."""
    cluster = SampleCluster()
    await cluster.register(client)
    funded = await credit(client, cluster.customer_id, funds)
    request = cluster.stop_request(**terms)
    await client.send("inventory.stop_poc.request", request)
    return cluster, request, funded, await client.wait_for_outcome(request["request_id"])


def of(request: dict):
    return lambda d: d.get("request_id") == request["request_id"]


async def test_a_poc_cluster_is_converted_and_charged_exactly_its_order_total(services, client, database):
    await services.start()
    cluster, request, funded, outcome = await funded_conversion(
        client, 50_000_000, usage_cycle_months=3, auto_renew=True
    )

    assert outcome.routing_key == "cluster.poc_stopped"
    order = (await client.wait_for("order.created", of(request))).data
    paid = (await client.wait_for("payment.settled", of(request))).data
    converted = (await client.wait_for("resources.converted", of(request))).data
    # Priced from the catalog: 3 months of two servers, two 50 GiB boot volumes and a 100 GiB PVC.
    expected = 3 * (GENERAL_4C8G + GENERAL_2C4G + 2 * 50 * SSD_STANDARD_GIB + 100 * SSD_PREMIUM_GIB)
    assert order["total"] == expected == sum(line["total"] for line in order["lines"])
    assert sorted(line["resource_id"] for line in order["lines"]) == cluster.convertible_ids
    assert paid["amount"] == order["total"]
    assert funded.data["balance_after"] - paid["balance_after"] == order["total"]
    assert sorted(converted["resource_ids"]) == cluster.convertible_ids
    assert (converted["usage_cycle_months"], converted["auto_renew"]) == (3, True)
    # Load balancers and snapshots are never priced nor converted.
    untouched = {r["resource_id"] for r in cluster.others}
    assert untouched.isdisjoint({line["resource_id"] for line in order["lines"]} | set(converted["resource_ids"]))
    billing = dict(await database.fetch("SELECT resource_id, billing FROM inventory.resources"))
    assert all(billing[rid] == "poc" for rid in untouched)
    assert all(billing[rid] == "real" for rid in cluster.convertible_ids)
    # Every message of the conversion carries its request id as correlation id.
    flow = [e for e in client.events if e.data.get("request_id") == request["request_id"]]
    assert {e.correlationid for e in flow} == {request["request_id"]}
    await _wait_for_notifications(database, cluster.customer_id, "payment_settled")
    await _wait_for_notifications(database, cluster.customer_id, "cluster_poc_stopped")


async def test_a_wallet_that_cannot_pay_fails_the_conversion_and_the_resources_stay_poc(services, client, database):
    await services.start()
    cluster, request, _, outcome = await funded_conversion(client, 1_000)

    assert (outcome.routing_key, outcome.data["reason"]) == ("stop_poc.failed", "insufficient_funds")
    failed = (await client.wait_for("payment.failed", of(request))).data
    assert failed["shortfall"] == failed["amount"] - 1_000
    assert await database.fetchval("SELECT count(*) FROM inventory.resources WHERE billing = 'real'") == 0
    assert (
        await database.fetchval("SELECT balance FROM payment.wallets WHERE customer_id = $1", cluster.customer_id)
        == 1_000
    )

    # Topped up, the same cluster converts on the next press.
    await credit(client, cluster.customer_id, failed["shortfall"])
    retry = cluster.stop_request()
    await client.send("inventory.stop_poc.request", retry)
    assert (await client.wait_for_outcome(retry["request_id"])).routing_key == "cluster.poc_stopped"
    assert (
        await database.fetchval("SELECT balance FROM payment.wallets WHERE customer_id = $1", cluster.customer_id) == 0
    )
    await _wait_for_notifications(database, cluster.customer_id, "payment_failed")


async def test_requests_that_cannot_be_met_are_rejected_with_a_reason(services, client, database):
    await services.start()
    cluster = SampleCluster()
    await cluster.register(client)
    foreign = cluster.stop_request(customer_id=unique_id("intruder"))
    snapshot_only = cluster.stop_request(resource_ids=[cluster.others[1]["resource_id"]])
    unknown = cluster.stop_request(cluster_id=unique_id("nowhere"))
    for request in (foreign, snapshot_only, unknown):
        await client.send("inventory.stop_poc.request", request)
    reasons = [
        (await client.wait_for_outcome(r["request_id"])).data["reason"] for r in (foreign, snapshot_only, unknown)
    ]

    assert reasons == ["cluster_not_owned", "resource_not_convertible", "cluster_not_found"]
    assert not client.seen("order.created")
    await _wait_for_notifications(database, cluster.customer_id, "stop_poc_rejected")


async def test_a_resource_the_catalog_cannot_price_fails_the_conversion_by_name(services, client):
    await services.start()
    cluster = SampleCluster()
    odd = server(cluster.cluster_id, flavor="quantum-1q")
    cluster.servers.append(odd)
    await cluster.register(client)
    await credit(client, cluster.customer_id, 50_000_000)
    request = cluster.stop_request()
    await client.send("inventory.stop_poc.request", request)
    outcome = await client.wait_for_outcome(request["request_id"])

    assert (outcome.routing_key, outcome.data["reason"]) == ("stop_poc.failed", "unpriced_resource")
    assert odd["resource_id"] in outcome.data["detail"]
    assert not client.seen("payment.settled")


async def test_a_node_that_joins_while_a_round_is_unpaid_is_converted_in_round_two(services, client):
    await services.start()
    cluster = SampleCluster()
    await cluster.register(client)
    await credit(client, cluster.customer_id, 50_000_000)
    await services.stop("payment")  # round 1 waits for its payment while a node joins
    request = cluster.stop_request()
    await client.send("inventory.stop_poc.request", request)
    await client.wait_for("order.created", of(request))
    newcomer = server(cluster.cluster_id)
    await client.send("inventory.resource.upsert", newcomer)
    await client.wait_for("resource.registered", lambda d: d["resource_id"] == newcomer["resource_id"])
    await services.start("payment")
    outcome = await client.wait_for_outcome(request["request_id"])

    assert (outcome.routing_key, outcome.data["rounds"]) == ("cluster.poc_stopped", 2)
    rounds = {e.data["round"]: e.data for e in client.seen("resources.converted", of(request))}
    assert sorted(rounds[1]["resource_ids"]) == cluster.convertible_ids
    assert rounds[2]["resource_ids"] == [newcomer["resource_id"]]
    orders = client.seen("order.created", of(request))
    settled = client.seen("payment.settled", of(request))
    assert sorted(o.data["total"] for o in orders) == sorted(p.data["amount"] for p in settled)


async def test_a_cluster_converted_resource_by_resource_stops_without_an_order(services, client, database):
    await services.start()
    cluster = SampleCluster()
    for resource in [*cluster.servers, *cluster.volumes]:
        resource["billing"] = "real"
    await cluster.register(client)
    request = cluster.stop_request()
    await client.send("inventory.stop_poc.request", request)
    outcome = await client.wait_for_outcome(request["request_id"])

    assert (outcome.routing_key, outcome.data["rounds"]) == ("cluster.poc_stopped", 0)
    assert not client.seen("order.created", of(request))
    assert (
        await database.fetchval("SELECT poc FROM inventory.clusters WHERE cluster_id = $1", cluster.cluster_id) is False
    )


async def test_redelivering_every_message_of_a_conversion_changes_nothing(services, client, database):
    await services.start()
    cluster, request, _, _ = await funded_conversion(client, 50_000_000)
    balance = await _balance(database, cluster.customer_id)
    before = _distinct_events(client, request)

    # Every event of the conversion, and the command that started it, published again as is.
    flow = [e for e in client.events if e.data.get("request_id") == request["request_id"]]
    for envelope in flow:
        await client.publish(services.names.events, envelope.routing_key, envelope.to_json(), message_id=envelope.id)
    command = next(e for e in client.events if e.routing_key == "stop_poc.requested")
    await client.send("inventory.stop_poc.request", request, message_id=command.causationid)
    # A fresh conversion afterwards passes through every queue: the replays are handled by then.
    marker = SampleCluster()
    await marker.register(client)
    await credit(client, marker.customer_id, 50_000_000)
    marker_request = marker.stop_request()
    await client.send("inventory.stop_poc.request", marker_request)
    await client.wait_for_outcome(marker_request["request_id"])
    await _wait_for_notifications(database, marker.customer_id, "cluster_poc_stopped")

    assert await _balance(database, cluster.customer_id) == balance
    assert _distinct_events(client, request) == before  # no new event: replays were dropped
    ledger = await database.fetchval("SELECT count(*) FROM payment.ledger WHERE customer_id = $1", cluster.customer_id)
    assert ledger == 2  # the credit and one debit


def _distinct_events(client, request) -> dict[str, int]:
    """How many distinct events (by id) of each kind a conversion has had."""
    by_key: dict[str, set[str]] = {}
    for e in client.events:
        if e.data.get("request_id") == request["request_id"]:
            by_key.setdefault(e.routing_key, set()).add(e.id)
    return {k: len(ids) for k, ids in by_key.items()}


async def _balance(database, customer_id: str) -> int:
    return await database.fetchval("SELECT balance FROM payment.wallets WHERE customer_id = $1", customer_id)


async def _notifications(database, customer_id: str) -> list[str]:
    rows = await database.fetch("SELECT kind FROM notifier.notifications WHERE customer_id = $1", customer_id)
    return [r["kind"] for r in rows]


async def _wait_for_notifications(database, customer_id: str, kind: str) -> None:
    async def recorded() -> bool:
        return kind in await _notifications(database, customer_id)

    await wait_until(recorded, timeout=30, what=f"a {kind} notification for {customer_id}")
