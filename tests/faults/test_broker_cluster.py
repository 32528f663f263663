"""Past one broker node: the services take several addresses of a three-node RabbitMQ cluster,
their queues are quorum queues replicated on all three, and when the node they are connected to
goes down in the middle of a batch they carry on through the others by themselves. It comes
back; every conversion ends, nothing is charged twice, every wallet adds up, nothing is
dead-lettered."""

import asyncio

import asyncpg
import pytest

from stoppoc.cli.dlq import peek
from stoppoc.services import registry
from stoppoc.services.registry import SERVICES
from stoppoc.shared.client import ContractClient
from stoppoc.shared.topology import Names
from tests.contract_data import SampleCluster, unique_id
from tests.e2e.processes import ServiceProcesses
from tests.faults.injection import connection_name
from tests.faults.test_database_outage import assert_wallets_reconciled
from tests.infrastructure import unique

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

CONVERSIONS = 12


async def test_a_batch_goes_on_while_the_services_broker_node_is_stopped_and_started_again(
    rabbit_cluster, settings, tmp_path
):
    first, second, third = rabbit_cluster.nodes
    names = Names(unique("cluster"))
    settings = settings.model_copy(
        update={"amqp_url": first.url, "amqp_failover_urls": [second.url, third.url], "namespace": names.namespace}
    )
    services = ServiceProcesses(settings, tmp_path)
    async with ContractClient(third.url, names, source="/tests/portal", declare=registry.topology()) as client:
        await services.start()
        try:
            assert all(
                connection_name(s, names.namespace) in first.ctl("list_connections", "client_properties")
                for s in SERVICES
            )
            clusters = [SampleCluster() for _ in range(CONVERSIONS)]
            for cluster in clusters:
                await cluster.register(client, timeout=60)
                await client.send(
                    "payment.wallet.credit",
                    {"customer_id": cluster.customer_id, "amount": 50_000_000, "reference": unique_id("topup")},
                )
            requests = [cluster.stop_request() for cluster in clusters]
            for request in requests[:4]:
                await client.send("inventory.stop_poc.request", request)

            await asyncio.to_thread(first.stop)  # the node every service is connected to
            for request in requests[4:8]:
                await client.send("inventory.stop_poc.request", request)
            await asyncio.to_thread(first.start)
            for request in requests[8:]:
                await client.send("inventory.stop_poc.request", request)

            outcomes = await client.wait_for_outcomes([r["request_id"] for r in requests], timeout=180)
            moved = second.ctl("list_connections", "client_properties") + third.ctl(
                "list_connections", "client_properties"
            )
            letters = {service: await peek(third.url, names, service) for service in SERVICES}
        finally:
            codes = await services.stop()

    assert {e.routing_key for e in outcomes.values()} == {"cluster.poc_stopped"}
    assert all(connection_name(s, names.namespace) in moved for s in SERVICES)  # they failed over
    assert letters == {service: [] for service in SERVICES}
    assert all(code == 0 for code in codes.values()), codes
    conn = await asyncpg.connect(settings.database_url)
    try:
        await assert_wallets_reconciled(conn, client, [c.customer_id for c in clusters])
        orders = await conn.fetch("SELECT request_id, count(*) AS n FROM checkout.orders GROUP BY request_id")
        assert len(orders) == CONVERSIONS and all(row["n"] == 1 for row in orders)
        debits = await conn.fetchval("SELECT count(*) FROM payment.ledger WHERE kind = 'debit'")
        assert debits == CONVERSIONS
    finally:
        await conn.close()
