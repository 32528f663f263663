"""No stranded resource: nodes registered while rounds settle, against two inventory instances,
a real RabbitMQ and PostgreSQL, with checkout and payment played by the test (which pays every
round at once)."""

import asyncio

import pytest

from stoppoc.contract.envelope import Envelope
from tests.contract_data import SampleCluster, publish_event, server, volume
from tests.infrastructure import running
from tests.integration.test_inventory import press_stop_poc, requested_round, settled

pytestmark = pytest.mark.integration

CYCLES = 8


class Payer:
    """Pays the rounds of the conversions it is told about: each round as soon as it is requested
    once ``at_once``, else when the test says (``pay_pending``), right behind what it sends."""

    def __init__(self, client, *, at_once: bool = True) -> None:
        self.client = client
        self.at_once = at_once
        self.request_ids: set[str] = set()
        self.pending: list[dict] = []
        self.seen: set[tuple[str, int]] = set()
        self.tasks: list[asyncio.Task] = []
        client.on_event(self._on_event)

    def _on_event(self, event: Envelope) -> None:
        key = (event.data.get("request_id"), event.data.get("round"))
        if event.routing_key != "stop_poc.requested" or key[0] not in self.request_ids or key in self.seen:
            return
        self.seen.add(key)
        self.pending.append(event.data)
        if self.at_once:
            self.tasks.append(asyncio.create_task(self.pay_pending()))

    async def pay_pending(self) -> None:
        rounds, self.pending = self.pending, []
        for requested in rounds:
            await publish_event(self.client, "payment.settled", settled(requested))


async def test_nodes_registered_while_rounds_settle_are_each_converted_by_the_first_stop_after_them(
    settings, client, database
):
    """Cycle after cycle, an autoscaler adds nodes, Stop POC is pressed, and the round is paid at
    the very moment another node registers, so that the node races with the decision to turn the
    POC option off. Commits that touch the cluster are ordered by its row lock, and so are the
    outbox ids they take: each node must be converted by the first conversion whose stop comes
    after its registration, and no POC node may be left once a press finds none."""
    cluster = SampleCluster()
    payer = Payer(client, at_once=False)
    presses: list[dict] = []
    nodes: list[str] = []

    async def press() -> dict:
        request = cluster.stop_request()
        payer.request_ids.add(request["request_id"])
        presses.append(request)
        await client.send("inventory.stop_poc.request", request)
        return request

    async def register() -> None:
        n = len(nodes) // 2
        node = server(cluster.cluster_id, rid=f"{cluster.cluster_id}-node-{n}")
        boot = volume(cluster.cluster_id, "boot", rid=f"{cluster.cluster_id}-node-{n}-boot")
        nodes.extend([node["resource_id"], boot["resource_id"]])
        for resource in (node, boot):
            await client.send("inventory.resource.upsert", resource)

    async with running(settings, "inventory", "inventory"):  # two competing instances
        await cluster.register(client)
        for _ in range(CYCLES):
            for _ in range(2):
                await register()
            await client.wait_for("resource.registered", lambda d, last=nodes[-1]: d["resource_id"] == last)
            request = await press()
            await requested_round(client, request["request_id"])
            await asyncio.gather(payer.pay_pending(), register())  # the race
            payer.at_once = True  # any further round of this conversion is paid as it comes
            await payer.pay_pending()
            await client.wait_for_outcome(request["request_id"])
            payer.at_once = False
        for rid in nodes:
            await client.wait_for("resource.registered", lambda d, rid=rid: d["resource_id"] == rid)
        payer.at_once = True
        while (await client.wait_for_outcome((await press())["request_id"])).routing_key != "stop_poc.rejected":
            pass  # a node registered after the last stop is converted by a press of its own
        await asyncio.gather(*payer.tasks)

    outcomes = [client.outcomes[request["request_id"]][0] for request in presses]
    assert outcomes[-1].data["reason"] == "cluster_not_poc"
    assert {e.routing_key for e in outcomes[:-1]} == {"cluster.poc_stopped"}
    order = dict(await database.fetch("SELECT message_id, id FROM inventory.outbox"))
    stops = sorted((order[e.id], e.data["request_id"]) for e in outcomes[:-1])
    registered = {e.data["resource_id"]: order[e.id] for e in client.seen("resource.registered")}
    converted = dict(await database.fetch("SELECT resource_id, converted_request_id FROM inventory.resources"))
    for rid in nodes:
        first_stop_after = next(request_id for stop, request_id in stops if stop > registered[rid])
        assert converted[rid] == first_stop_after, rid
    left = await database.fetchval(
        "SELECT count(*) FROM inventory.resources WHERE billing = 'poc' AND kind IN ('server', 'volume')"
    )
    assert left == 0


async def test_a_poc_node_registered_after_the_option_went_off_is_converted_by_a_later_press(settings, client):
    cluster = SampleCluster()
    payer = Payer(client)
    async with running(settings, "inventory"):
        first, round_1 = await press_stop_poc(client, cluster)
        await publish_event(client, "payment.settled", settled(round_1))
        assert (await client.wait_for_outcome(first["request_id"])).routing_key == "cluster.poc_stopped"
        straggler = server(cluster.cluster_id)
        await client.send("inventory.resource.upsert", straggler)
        await client.wait_for("resource.registered", lambda d: d["resource_id"] == straggler["resource_id"])
        second = cluster.stop_request()
        payer.request_ids.add(second["request_id"])
        await client.send("inventory.stop_poc.request", second)
        stopped = await client.wait_for_outcome(second["request_id"])
        await asyncio.gather(*payer.tasks)

    assert (stopped.routing_key, stopped.data["rounds"]) == ("cluster.poc_stopped", 1)
    converted = (await client.wait_for("resources.converted", lambda d: d["request_id"] == second["request_id"])).data
    assert converted["resource_ids"] == [straggler["resource_id"]]


async def test_a_round_after_the_first_that_cannot_be_priced_ends_completed_with_the_earlier_round_kept(
    settings, client, database
):
    cluster = SampleCluster()
    async with running(settings, "inventory"):
        request, round_1 = await press_stop_poc(client, cluster)
        newcomer = server(cluster.cluster_id, flavor="quantum-1q")
        await client.send("inventory.resource.upsert", newcomer)
        await client.wait_for("resource.registered", lambda d: d["resource_id"] == newcomer["resource_id"])
        await publish_event(client, "payment.settled", settled(round_1))
        round_2 = await requested_round(client, request["request_id"], 2)
        rejection = {
            **{k: round_2[k] for k in ("request_id", "round", "customer_id", "cluster_id")},
            "reason": "unpriced_resource",
            "detail": f"the price list has no price for {newcomer['resource_id']}",
        }
        await publish_event(client, "order.rejected", rejection)
        completed = await client.wait_for_outcome(request["request_id"])

    assert completed.routing_key == "stop_poc.completed"
    assert completed.data["failed_round"] == {
        "round": 2,
        "reason": "unpriced_resource",
        "detail": rejection["detail"],
        "resource_ids": [newcomer["resource_id"]],
    }
    assert sorted(completed.data["converted_resource_ids"]) == cluster.convertible_ids
    assert completed.data["poc_remaining_resource_ids"] == [newcomer["resource_id"]]
    status = await database.fetchval(
        "SELECT status FROM inventory.conversions WHERE request_id = $1", request["request_id"]
    )
    assert status == "completed"
    assert await database.fetchval("SELECT poc FROM inventory.clusters") is True
