"""Rounds and consent, black-box: four service processes driven through the contract only. A
conversion is one purchase however many rounds it takes; nothing the customer did not confirm is
charged; a coupon is redeemed once; the order is bound to the total the customer was shown."""

import pytest

from tests.contract_data import SampleCluster
from tests.e2e.steps import (
    GENERAL_2C4G,
    HDD_STANDARD_GIB,
    PURCHASE,
    balance,
    credit,
    join,
    of,
    outcome,
    press,
    quote,
    small_cluster,
    upsert_coupon,
    with_settings,
)

pytestmark = pytest.mark.e2e


def line_ids(order: dict) -> list[str]:
    return sorted(line["resource_id"] for line in order["lines"])


async def test_a_confirmed_subset_is_all_that_is_charged_and_the_cluster_keeps_its_poc_option(
    services, client, database
):
    await services.start(*PURCHASE)
    cluster = SampleCluster()
    await cluster.register(client)
    await credit(client, cluster.customer_id, 50_000_000)
    chosen = sorted([cluster.servers[0]["resource_id"], cluster.volumes[0]["resource_id"]])
    rest = sorted(set(cluster.convertible_ids) - set(chosen))

    quoted = await quote(client, cluster, resource_ids=chosen)
    request = await press(client, cluster, resource_ids=chosen, expected_total=quoted["total"])
    completed = await outcome(client, request)

    assert completed.routing_key == "stop_poc.completed", completed.data
    assert completed.data["rounds"] == 1 and completed.data["failed_round"] is None
    assert sorted(completed.data["converted_resource_ids"]) == chosen
    assert sorted(completed.data["poc_remaining_resource_ids"]) == rest
    order = (await client.wait_for("order.created", of(request["request_id"]))).data
    paid = (await client.wait_for("payment.settled", of(request["request_id"]))).data
    assert line_ids(order) == line_ids(quoted) == chosen
    assert paid["amount"] == order["total"] == quoted["total"]
    assert await database.fetchval("SELECT poc FROM inventory.clusters WHERE cluster_id = $1", cluster.cluster_id)
    billing = dict(await database.fetch("SELECT resource_id, billing FROM inventory.resources"))
    assert [billing[rid] for rid in chosen] == ["real", "real"]
    assert {billing[rid] for rid in rest} == {"poc"}

    # The portal still shows Stop POC: the rest, pressed for, ends the cluster's trial.
    again = await press(client, cluster)
    stopped = await outcome(client, again)
    assert (stopped.routing_key, stopped.data["rounds"]) == ("cluster.poc_stopped", 1)
    assert line_ids((await client.wait_for("order.created", of(again["request_id"]))).data) == rest


async def test_a_node_that_joins_while_round_one_waits_for_funds_becomes_round_two(services, client):
    with_settings(services, funds_wait_seconds=120)
    await services.start(*PURCHASE)
    cluster = SampleCluster()
    await cluster.register(client)
    await credit(client, cluster.customer_id, 1_000)
    request = await press(client, cluster)
    await client.wait_for("payment.awaiting_funds", of(request["request_id"]))
    newcomer = await join(client, cluster)
    await credit(client, cluster.customer_id, 50_000_000)
    stopped = await outcome(client, request)

    assert (stopped.routing_key, stopped.data["rounds"]) == ("cluster.poc_stopped", 2)
    rounds = {e.data["round"]: e.data for e in client.seen("resources.converted", of(request["request_id"]))}
    assert sorted(rounds[1]["resource_ids"]) == cluster.convertible_ids
    assert rounds[2]["resource_ids"] == [newcomer["resource_id"]]


async def test_a_round_two_that_cannot_be_paid_leaves_round_one_converted(services, client, database):
    await services.start(*PURCHASE)
    cluster = SampleCluster()
    await cluster.register(client)
    round_one = await quote(client, cluster)
    await credit(client, cluster.customer_id, round_one["total"])  # exactly round 1
    await services.stop("payment")  # round 1 waits for payment while a node joins
    request = await press(client, cluster)
    await client.wait_for("order.created", of(request["request_id"]))
    newcomer = await join(client, cluster)
    await services.start("payment")
    completed = await outcome(client, request)

    assert completed.routing_key == "stop_poc.completed", completed.data
    failed = completed.data["failed_round"]
    assert (failed["round"], failed["reason"], failed["resource_ids"]) == (
        2,
        "insufficient_funds",
        [newcomer["resource_id"]],
    )
    assert completed.data["rounds"] == 2
    assert sorted(completed.data["converted_resource_ids"]) == cluster.convertible_ids
    assert completed.data["poc_remaining_resource_ids"] == [newcomer["resource_id"]]
    assert not client.seen("stop_poc.failed", of(request["request_id"]))
    billing = dict(await database.fetch("SELECT resource_id, billing FROM inventory.resources"))
    assert {billing[rid] for rid in cluster.convertible_ids} == {"real"}
    assert billing[newcomer["resource_id"]] == "poc"
    assert await balance(database, cluster.customer_id) == 0


async def test_a_coupon_is_redeemed_once_per_conversion_across_two_rounds(services, client, database):
    await services.start(*PURCHASE)
    fixed = await upsert_coupon(client, database, kind="fixed", value=150_000, per_customer_limit=1)
    percent = await upsert_coupon(client, database, kind="percent", value=10, max_redemptions=1)
    clusters = {fixed: small_cluster(), percent: small_cluster()}
    for cluster in clusters.values():
        await cluster.register(client)
        await credit(client, cluster.customer_id, 50_000_000)
    await services.stop("payment")  # round 1 of each waits for payment while a node joins
    requests = {code: await press(client, cluster, coupon_code=code) for code, cluster in clusters.items()}
    for request in requests.values():
        await client.wait_for("order.created", of(request["request_id"]))
    for cluster in clusters.values():
        await join(client, cluster)
    await services.start("payment")
    ends = {code: await outcome(client, request) for code, request in requests.items()}

    assert {(e.routing_key, e.data["rounds"]) for e in ends.values()} == {("cluster.poc_stopped", 2)}
    volume_month, server_month = 20 * HDD_STANDARD_GIB, GENERAL_2C4G

    def coupon_off(code: str) -> list[int]:
        orders = sorted(client.seen("order.created", of(requests[code]["request_id"])), key=lambda e: e.data["round"])
        return [sum(line["coupon_discount"] for line in e.data["lines"]) for e in orders]

    # 150,000 spent across the rounds: all of round 1's 30,000, then the 120,000 left.
    assert coupon_off(fixed) == [volume_month, 150_000 - volume_month]
    # 10 % off each round, though the coupon could be redeemed only once.
    assert coupon_off(percent) == [volume_month // 10, server_month // 10]
    for code in (fixed, percent):
        redemptions = await database.fetch("SELECT status FROM checkout.coupon_redemptions WHERE code = $1", code)
        assert [r["status"] for r in redemptions] == ["redeemed"]
        assert not client.seen("order.rejected", of(requests[code]["request_id"]))


async def test_an_order_that_differs_from_the_quote_by_one_dong_is_rejected_and_nothing_is_charged(
    services, client, database
):
    await services.start(*PURCHASE)
    code = await upsert_coupon(client, database, kind="percent", value=5, max_redemptions=1)
    cluster = SampleCluster()
    await cluster.register(client)
    await credit(client, cluster.customer_id, 50_000_000)
    quoted = await quote(client, cluster, coupon=code)

    stale = await press(client, cluster, coupon_code=code, expected_total=quoted["total"] - 1)
    failed = await outcome(client, stale)

    assert (failed.routing_key, failed.data["reason"]) == ("stop_poc.failed", "price_changed")
    assert f"{quoted['total']} VND" in failed.data["detail"] and f"{quoted['total'] - 1} VND" in failed.data["detail"]
    assert not client.seen("order.created", of(stale["request_id"]))
    assert await balance(database, cluster.customer_id) == 50_000_000
    # Nothing was reserved either: the coupon's one redemption is still there for the right total.
    right = await press(client, cluster, coupon_code=code, expected_total=quoted["total"])
    assert (await outcome(client, right)).routing_key == "cluster.poc_stopped"
    paid = (await client.wait_for("payment.settled", of(right["request_id"]))).data
    assert paid["amount"] == quoted["total"]
