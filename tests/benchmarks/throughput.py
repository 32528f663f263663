"""Conversions per second through the four service processes, and how long each takes.

    python -m tests.benchmarks.throughput --conversions 200

Uses STOPPOC_AMQP_URL and STOPPOC_DATABASE_URL (a server: the benchmark creates and drops its
own database and namespace). Prints figures; asserts nothing about speed.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from stoppoc.cli.runner import migrate_all
from stoppoc.services import registry
from stoppoc.services.registry import SERVICES
from stoppoc.shared import topology
from stoppoc.shared.client import ContractClient
from stoppoc.shared.settings import Settings
from tests.contract_data import SampleCluster
from tests.e2e.processes import ServiceProcesses
from tests.infrastructure import postgres_url, rabbitmq_url, with_database


async def run(conversions: int) -> None:
    suffix = uuid.uuid4().hex[:8]
    with rabbitmq_url() as amqp, postgres_url() as server:
        settings = Settings(
            amqp_url=amqp,
            database_url=with_database(server, f"stoppoc_bench_{suffix}"),
            namespace=f"bench{suffix}",
            funds_wait_seconds=0,
            log_level="WARNING",
            prefetch=16,
        )
        await migrate_all(settings)
        names = topology.Names(settings.namespace)
        with tempfile.TemporaryDirectory() as logs:
            processes = ServiceProcesses(settings, Path(logs))
            try:
                # The client declares the topology the processes' readiness check looks at.
                async with ContractClient(
                    settings.amqp_url, names, source="/bench", declare=registry.topology()
                ) as client:
                    await processes.start()
                    await measure(client, conversions)
            finally:
                await processes.stop()
                await topology.delete(settings.amqp_url, names, SERVICES)
                admin = await asyncpg.connect(server)
                await admin.execute(f'DROP DATABASE IF EXISTS "stoppoc_bench_{suffix}" WITH (FORCE)')
                await admin.close()


async def measure(client: ContractClient, conversions: int) -> None:
    clusters = [SampleCluster() for _ in range(conversions)]
    for cluster in clusters:
        await cluster.register(client, timeout=120)
        await client.send(
            "payment.wallet.credit",
            {"customer_id": cluster.customer_id, "amount": 100_000_000, "reference": cluster.cluster_id},
        )
    last = clusters[-1].customer_id
    await client.wait_for("wallet.credited", lambda d: d["customer_id"] == last, timeout=120)

    requests = [cluster.stop_request() for cluster in clusters]
    sent_at: dict[str, float] = {}
    started = time.perf_counter()
    for request in requests:
        sent_at[request["request_id"]] = time.perf_counter()
        await client.send("inventory.stop_poc.request", request)
    outcomes = await asyncio.gather(*(client.wait_for_outcome(r["request_id"], timeout=600) for r in requests))
    elapsed = time.perf_counter() - started
    finished_at = {e.data["request_id"]: e.time.timestamp() for e in outcomes}
    # Latency from the moment a request was sent to the broker's clock of its final event.
    offset = time.time() - time.perf_counter()
    latencies = sorted(finished_at[rid] - (sent_at[rid] + offset) for rid in sent_at)
    stopped = sum(e.routing_key == "cluster.poc_stopped" for e in outcomes)
    print(f"conversions: {conversions} ({stopped} stopped), each 5 resources in 1 round")
    print(f"wall time: {elapsed:.2f} s  throughput: {conversions / elapsed:.1f} conversions/s")
    print(
        f"latency: p50 {statistics.median(latencies) * 1000:.0f} ms  "
        f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:.0f} ms  max {latencies[-1] * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversions", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.conversions))


if __name__ == "__main__":
    main()
