"""An outage of the database is not the messages' fault: while PostgreSQL is down, far longer
than the services' retry budget, each service pauses its consumer and reports itself not ready,
naming the database; when it is back they resume by themselves. Nothing is dead-lettered, every
conversion ends, every wallet adds up.

The whole system runs on a PostgreSQL of the test's own (``stoppable_postgres``), which it stops
in the middle of a batch; the shared server stays up for everyone else."""

import asyncio
import time

import asyncpg
import pytest

from stoppoc.cli import runner
from stoppoc.cli.dlq import peek
from stoppoc.services.registry import SERVICES
from tests.contract_data import SampleCluster, unique_id, wait_until
from tests.e2e.processes import ServiceProcesses, readiness
from tests.infrastructure import with_database

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

CONVERSIONS = 12
OUTAGE_SECONDS = 6.0  # the fault's length; the retry budget below is a fraction of a second


async def test_a_database_outage_longer_than_the_retries_pauses_the_services_and_dead_letters_nothing(
    stoppable_postgres, settings, client, names, tmp_path
):
    settings = settings.model_copy(
        update={
            "database_url": with_database(stoppable_postgres.url, "stoppoc"),
            "max_attempts": 3,
            "retry_base_seconds": 0.05,  # about 0.15 s of retries in all
        }
    )
    await runner.migrate_all(settings)
    services = ServiceProcesses(settings, tmp_path, http=True)
    await services.start()
    try:
        clusters = [SampleCluster() for _ in range(CONVERSIONS)]
        for cluster in clusters:
            await cluster.register(client)
            await client.send(
                "payment.wallet.credit",
                {"customer_id": cluster.customer_id, "amount": 50_000_000, "reference": unique_id("topup")},
            )
        requests = [cluster.stop_request() for cluster in clusters]
        for request in requests[: CONVERSIONS // 3]:
            await client.send("inventory.stop_poc.request", request)

        stoppable_postgres.stop()
        down_at = time.monotonic()
        for request in requests[CONVERSIONS // 3 :]:
            await client.send("inventory.stop_poc.request", request)
        await wait_until(lambda: all_not_ready(services), timeout=30, what="every service not ready")
        statuses = [await readiness(port) for port in services.ports.values()]
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))  # hold the outage
        stoppable_postgres.start()
        outage = time.monotonic() - down_at

        outcomes = await client.wait_for_outcomes([r["request_id"] for r in requests], timeout=120)
        await wait_until(lambda: all_ready(services), timeout=30, what="every service ready again")
        letters = {service: await peek(settings.amqp_url, names, service) for service in SERVICES}
    finally:
        codes = await services.stop()

    assert outage >= OUTAGE_SECONDS > 10 * 0.15
    for status, body in statuses:
        assert status == 503
        [(_, checks)] = body["services"].items()
        assert not checks["database"]["ok"] and "database unreachable" in checks["database"]["detail"]
    assert {e.routing_key for e in outcomes.values()} == {"cluster.poc_stopped"}
    assert letters == {service: [] for service in SERVICES}
    assert all(code == 0 for code in codes.values()), codes
    conn = await asyncpg.connect(settings.database_url)
    try:
        await assert_wallets_reconciled(conn, client, [c.customer_id for c in clusters])
        held = await conn.fetchval(
            "SELECT count(*) FROM inventory.resources WHERE billing = 'poc' AND kind IN ('server', 'volume')"
        )
        assert held == 0
    finally:
        await conn.close()
    for name in services.ports:
        log = (tmp_path / f"{name}.log").read_text()
        assert "consumer paused" in log and "consumer resumed" in log, name


async def all_not_ready(services: ServiceProcesses) -> bool:
    return [(await readiness(port))[0] for port in services.ports.values()] == [503] * len(services.ports)


async def all_ready(services: ServiceProcesses) -> bool:
    return [(await readiness(port))[0] for port in services.ports.values()] == [200] * len(services.ports)


async def assert_wallets_reconciled(conn, client, customers: list[str]) -> None:
    """Each wallet: its balance the sum of its ledger, debited exactly once per settled order."""
    settled = {e.data["order_id"]: e.data["amount"] for e in client.seen("payment.settled")}
    for customer in customers:
        balance = await conn.fetchval("SELECT balance FROM payment.wallets WHERE customer_id = $1", customer)
        ledger = await conn.fetch("SELECT kind, amount, order_id FROM payment.ledger WHERE customer_id = $1", customer)
        assert balance == sum(row["amount"] for row in ledger)
        debits = [row for row in ledger if row["kind"] == "debit"]
        assert len(debits) == len({row["order_id"] for row in debits}) >= 1
        assert all(-row["amount"] == settled[row["order_id"]] for row in debits)
