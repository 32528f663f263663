"""Two instances of every service, competing consumers of each queue: a batch of conversions
comes out right, every instance takes its share, and no outbox row is published twice."""

import pytest

from tests.contract_data import SampleCluster, unique_id, wait_until
from tests.faults.probes import SCHEMAS, all_stamped, balance_and_ledger, fund

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


def clusters_of(customer_id: str, count: int) -> list[SampleCluster]:
    clusters = [SampleCluster() for _ in range(count)]
    for cluster in clusters:
        cluster.customer_id = cluster.cluster["customer_id"] = customer_id
    return clusters


async def test_two_instances_of_every_service_convert_a_batch_and_publish_each_row_once(
    settings, services, client, database
):
    await services.start(instances=2)
    customers = [unique_id("customer") for _ in range(4)]
    clusters = [cluster for customer in customers for cluster in clusters_of(customer, 3)]
    for cluster in clusters:
        await cluster.register(client)
    for customer in customers:
        await fund(client, customer, 50_000_000)
    requests = [cluster.stop_request() for cluster in clusters]
    for request in requests:
        await client.send("inventory.stop_poc.request", request)
    outcomes = await client.wait_for_outcomes([r["request_id"] for r in requests])

    await wait_until(lambda: all_stamped(database), what="every outbox row stamped published")

    assert {e.routing_key for e in outcomes.values()} == {"cluster.poc_stopped"}
    assert client.duplicates() == {}  # no crash, so no event published twice
    for schema in SCHEMAS:
        twice = await database.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE attempts <> 1")
        assert twice == 0, schema
    settled = client.seen("payment.settled")
    assert sorted(e.data["request_id"] for e in settled) == sorted(r["request_id"] for r in requests)
    for customer in customers:
        balance, ledger_sum = await balance_and_ledger(database, customer)
        paid = sum(e.data["amount"] for e in settled if e.data["customer_id"] == customer)
        assert balance == ledger_sum == 50_000_000 - paid
    for name in services.processes:
        assert '"message handled"' in (services.log_dir / f"{name}.log").read_text(), f"{name} took no message"
