"""``stoppoc bench`` at a small size: it runs, every conversion ends, every wallet reconciles, and
its figures agree with each other. Nothing about speed is asserted: the figures are the product."""

import asyncio
import json
import math
import os
import sys

import aio_pika
import aiormq
import asyncpg
import pytest

from stoppoc.cli.bench import RESOURCES
from stoppoc.cli.bench_report import render

pytestmark = pytest.mark.e2e

CONVERSIONS, ALONE, CHAINS = 24, 3, 100
# The path of one conversion: who handles what, from the request to the final event.
PATH = [
    "inventory stop_poc.requested",
    "checkout order.created",
    "payment payment.settled",
    "inventory cluster.poc_stopped",
]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.fixture(scope="module")
async def bench(amqp_url, postgres_url):
    environment = {
        **os.environ,
        "STOPPOC_AMQP_URL": amqp_url,
        "STOPPOC_DATABASE_URL": postgres_url,
        "STOPPOC_NAMESPACE": "test-bench",
    }
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "stoppoc.cli", "bench", "--json"),
        *("--conversions", str(CONVERSIONS), "--concurrency", "8", "--alone", str(ALONE), "--chains", str(CHAINS)),
        "--memory",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 240)
    assert process.returncode == 0, err.decode()[-3000:]
    return json.loads(out), err.decode()


def test_every_conversion_ends_and_every_wallet_reconciles(bench):
    figures, _ = bench
    assert figures["conversions"] == CONVERSIONS
    assert figures["outcomes"] == {"cluster.poc_stopped": CONVERSIONS}
    assert figures["not_ended"] == 0
    assert figures["wallets"] == {"checked": CONVERSIONS + ALONE, "reconciled": CONVERSIONS + ALONE, "problems": {}}
    assert figures["service_exit_codes"] == {"inventory": 0, "checkout": 0, "payment": 0, "notifier": 0}
    assert figures["problems"] == []


def test_the_load_figures_agree_with_each_other(bench):
    figures, _ = bench
    handled = figures["handled_deliveries"]
    by_service = handled["by_service"]
    assert handled["total"] == sum(by_service.values())
    # Each conversion: the request and its payment at inventory, the round and its payment at
    # checkout, the order at payment, and the notifier hears of it.
    assert by_service["inventory"] >= 2 * CONVERSIONS and by_service["checkout"] >= 2 * CONVERSIONS
    assert by_service["payment"] >= CONVERSIONS and by_service["notifier"] >= CONVERSIONS
    assert handled["in_whole_run"] > handled["total"]  # registrations and the lone conversions too
    assert close(handled["per_conversion"], handled["total"] / CONVERSIONS)
    assert close(handled["per_second"], handled["total"] / handled["seconds"])
    assert handled["seconds"] >= figures["seconds"] > 0  # the services finish after the last final event
    assert close(figures["conversions_per_second"], CONVERSIONS / figures["seconds"])
    latency = figures["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert latency["max"] <= figures["seconds"] * 1000


def test_the_unloaded_path_and_the_bare_chain_are_timed_hop_by_hop(bench):
    figures, _ = bench
    lone, chain, ratios = figures["unloaded"], figures["bare_chain"], figures["ratios"]
    assert lone["conversions"] == ALONE and lone["hops"] == len(PATH)
    assert list(lone["by_hop_ms"]) == PATH and all(ms > 0 for ms in lone["by_hop_ms"].values())
    assert close(lone["hop_ms"] * lone["hops"], lone["p50_ms"])
    assert chain["chains"] == CHAINS and chain["in_flight"] == 32
    assert chain["queue_type"] == os.environ.get("STOPPOC_QUEUE_TYPE", "quorum")  # the services' own
    assert close(chain["chains_per_second"], CHAINS / chain["seconds"])
    assert close(chain["hops_per_second"], 4 * chain["chains_per_second"])
    assert close(chain["hop_ms"] * 4, chain["alone_p50_ms"])
    assert close(
        ratios["deliveries_per_second_to_bare_hops_per_second"], handled_rate(figures) / chain["hops_per_second"]
    )
    assert close(ratios["unloaded_hop_ms_to_bare_hop_ms"], lone["hop_ms"] / chain["hop_ms"])


def handled_rate(figures) -> float:
    return figures["handled_deliveries"]["per_second"]


def test_cpu_and_memory_are_measured_for_every_part(bench):
    figures, _ = bench
    cpu = figures["cpu_ms_per_conversion"]
    for part in ("inventory", "checkout", "payment", "notifier", "database", "bench"):
        assert cpu[part] > 0, part
    assert cpu["broker"] is None or cpu["broker"] > 0  # None where the node cannot be told apart
    memory = figures["peak_rss_mib"]
    assert set(memory) == {"inventory", "checkout", "payment", "notifier"}
    assert all(20 < mib < 4096 for mib in memory.values()), memory
    for service, samples in figures["rss_mib"].items():
        seconds = [t for t, _ in samples]
        assert seconds == sorted(seconds) and len(samples) >= 2, service
        assert max(mib for _, mib in samples) <= memory[service] + 0.05  # samples are rounded to 0.1


def test_progress_goes_to_stderr_and_the_text_report_has_every_figure(bench):
    figures, progress = bench
    assert "registering and funding" in progress and "reconciling every wallet" in progress
    text = render(figures, RESOURCES)
    ratio = figures["ratios"]["deliveries_per_second_to_bare_hops_per_second"]
    assert f"handled deliveries/s to bare hops/s {ratio:.2f}" in text
    assert f"{figures['handled_deliveries']['per_second']:.0f} handled/s" in text
    assert f"{CONVERSIONS + ALONE} of {CONVERSIONS + ALONE} reconciled" in text
    assert "(MiB resident)" in text and "PROBLEM" not in text


async def test_the_bench_leaves_no_database_or_queue_behind(bench, amqp_url, postgres_url):
    figures, _ = bench
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", figures["database"]) == 0
    finally:
        await conn.close()
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
            await channel.declare_queue(f"{figures['namespace']}.payment", passive=True)
