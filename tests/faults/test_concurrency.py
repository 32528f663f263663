"""The concurrency rules, with the services as processes and competing instances: two presses
on one cluster at once make one conversion; many orders of one customer settling at once never
take the wallet below zero; a resource deleted while its conversion is in flight is refunded."""

import pytest

from tests.contract_data import SampleCluster, unique_id
from tests.faults.probes import balance_and_ledger, fund

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


def of(request: dict):
    return lambda d: d.get("request_id") == request["request_id"]


async def test_two_presses_on_one_cluster_at_once_make_one_conversion_and_a_repeat_is_the_same_request(
    services, client
):
    await services.start("inventory", "checkout", "payment", instances=2)
    cluster = SampleCluster()
    await cluster.register(client)
    await fund(client, cluster.customer_id, 50_000_000)
    await services.stop("payment", "payment-2")  # back later: meanwhile the round stays in flight
    first, second = cluster.stop_request(), cluster.stop_request()
    await client.send("inventory.stop_poc.request", first)
    await client.send("inventory.stop_poc.request", second)
    await client.send("inventory.stop_poc.request", first)  # the portal retried: same request id
    rejected = await client.wait_for("stop_poc.rejected")
    await services.start("payment")
    winner = first if rejected.data["request_id"] == second["request_id"] else second
    stopped = await client.wait_for_outcome(winner["request_id"])
    outcomes = await client.wait_for_outcomes([first["request_id"], second["request_id"]])

    assert rejected.data["reason"] == "conversion_in_progress"
    assert stopped.routing_key == "cluster.poc_stopped"
    assert [e.data["request_id"] for e in client.seen("stop_poc.requested")] == [winner["request_id"]]
    assert len(client.seen("order.created")) == len(client.seen("payment.settled")) == 1
    assert all(len(client.outcomes[request_id]) == 1 for request_id in outcomes)


async def test_orders_of_one_customer_settling_at_once_never_take_the_wallet_below_zero(services, client, database):
    await services.start(instances=2)
    customer = unique_id("customer")
    clusters = [SampleCluster() for _ in range(6)]
    for cluster in clusters:
        cluster.customer_id = cluster.cluster["customer_id"] = customer
        await cluster.register(client)
    price = 3 * (1_200_000 + 600_000 + 2 * 50 * 3_000 + 100 * 5_000)  # the sample catalog, for 3 months at most
    funded = 4 * price + price // 2
    await fund(client, customer, funded)
    requests = [cluster.stop_request(usage_cycle_months=3) for cluster in clusters]
    for request in requests:
        await client.send("inventory.stop_poc.request", request)
    await client.wait_for_outcomes([r["request_id"] for r in requests])

    totals = {e.data["total"] for e in client.seen("order.created")}
    assert len(totals) == 1  # six equal orders
    total = totals.pop()
    settled, failed = client.seen("payment.settled"), client.seen("payment.failed")
    assert len(settled) == min(6, funded // total) and len(settled) + len(failed) == 6
    assert {e.data["reason"] for e in failed} <= {"insufficient_funds"}
    balance, ledger_sum = await balance_and_ledger(database, customer)
    assert balance == ledger_sum == funded - total * len(settled) >= 0
    entries = await database.fetch(
        "SELECT amount, balance_after FROM payment.ledger WHERE customer_id = $1 ORDER BY entry_id", customer
    )
    running = 0
    for entry in entries:  # each debit saw the balance the one before it left
        running += entry["amount"]
        assert entry["balance_after"] == running >= 0


async def test_a_resource_deleted_while_its_conversion_is_in_flight_is_refunded_as_credit(services, client, database):
    await services.start()
    cluster = SampleCluster()
    await cluster.register(client)
    await fund(client, cluster.customer_id, 50_000_000)
    await services.stop("payment")  # back once the resource is gone
    request = cluster.stop_request()
    await client.send("inventory.stop_poc.request", request)
    order = (await client.wait_for("order.created", of(request))).data
    gone = cluster.volumes[2]["resource_id"]
    await client.send("inventory.resource.delete", {"resource_id": gone})
    await client.wait_for("resource.deleted", lambda d: d["resource_id"] == gone)
    await services.start("payment")
    outcome = await client.wait_for_outcome(request["request_id"])
    paid = (await client.wait_for("payment.settled", of(request))).data
    refund = (await client.wait_for("wallet.credited", lambda d: d["reference"].startswith("refund:"))).data

    assert outcome.routing_key == "cluster.poc_stopped"
    line = next(line for line in order["lines"] if line["resource_id"] == gone)
    assert refund["reference"] == f"refund:{paid['payment_id']}:{gone}"
    assert refund["amount"] == line["total"] > 0
    converted = (await client.wait_for("resources.converted", of(request))).data["resource_ids"]
    assert gone not in converted and len(converted) == len(cluster.convertible_ids) - 1
    gone_row = await database.fetchrow(
        "SELECT billing, converted_request_id FROM inventory.resources WHERE resource_id = $1", gone
    )
    assert (gone_row["billing"], gone_row["converted_request_id"]) == ("poc", None)  # never paid and gone
    balance, ledger_sum = await balance_and_ledger(database, cluster.customer_id)
    assert balance == ledger_sum == 50_000_000 - order["total"] + line["total"]
