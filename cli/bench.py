"""``stoppoc bench``: how fast the four services convert clusters, beside what the broker and the
database allow on the same machine in the same run (the bare chain, ``bench_chain.py``).

A run: a fresh database and namespace; the bare four-hop chain measured; the four services
started as separate processes; realistic POC clusters registered and funded through the
contract; a few conversions one at a time (unloaded latency, hop by hop); then the load, Stop POC
pressed at the chosen concurrency (or all at once with ``--burst``), until every conversion has
ended; then every wallet reconciled. Figures on stdout (``--json`` for scripts), progress on
stderr. Exit 1 when a conversion did not end, a wallet does not reconcile or a service failed.
"""

import asyncio
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import click
import psutil

from stoppoc.cli import runner
from stoppoc.cli.bench_chain import BareChain, ChainFigures
from stoppoc.cli.bench_checks import ServiceTables, reconcile
from stoppoc.cli.bench_load import WALLET_CREDIT, BenchCluster, Driver, Outcome, convert_all
from stoppoc.cli.bench_processes import ServiceProcesses
from stoppoc.cli.bench_report import BenchRun, render
from stoppoc.cli.bench_usage import SQL, UsageMeter, broker_process, cpu_between
from stoppoc.cli.database import fail, run_async
from stoppoc.cli.output import echo_json, json_option
from stoppoc.services.registry import SERVICES
from stoppoc.shared import topology
from stoppoc.shared.settings import Settings, get_settings

RESOURCES = "3 nodes, 3 boot volumes, 2 PVCs, a load balancer"
BARE_CHAIN_IN_FLIGHT = 32


class Progress:
    """One line on stderr, rewritten in place on a terminal, every few seconds elsewhere."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, text: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._tty:
            click.echo(f"\r\x1b[2K{text}", nl=False, err=True)
        elif force or now - self._last >= 5:
            click.echo(text, err=True)
        else:
            return
        self._last = now

    def done(self, text: str) -> None:
        click.echo(f"\r\x1b[2K{text}" if self._tty else text, err=True)


@click.command()
@click.option("--conversions", default=500, show_default=True, help="Conversions in the load.")
@click.option("--concurrency", default=32, show_default=True, help="Conversions kept in flight.")
@click.option("--burst", is_flag=True, help="Press Stop POC for every cluster at once (concurrency = conversions).")
@click.option("--alone", default=20, show_default=True, help="Conversions timed one at a time, before the load.")
@click.option("--chains", default=2000, show_default=True, help="Bare chains measured under load.")
@click.option("--memory", is_flag=True, help="Show each service's resident memory through the run.")
@click.option("--timeout", default=1800.0, show_default=True, help="Seconds for the load's conversions to end.")
@click.option("--log-level", default="WARNING", show_default=True, help="The services' log level.")
@click.option("--keep", is_flag=True, help="Keep the bench's database and namespace afterwards, to look into.")
@json_option
def bench(
    conversions: int,
    concurrency: int,
    burst: bool,
    alone: int,
    chains: int,
    memory: bool,
    timeout: float,
    log_level: str,
    keep: bool,
    as_json: bool,
) -> None:
    """Measure conversions/s, handled deliveries/s, latency, CPU and memory of the four services
    on a fresh database and namespace, beside the bare four-hop chain on the same broker and
    database. Uses STOPPOC_AMQP_URL and the server of STOPPOC_DATABASE_URL."""
    if min(conversions, concurrency, alone, chains) < 1:
        fail("--conversions, --concurrency, --alone and --chains must be at least 1", 2)
    suffix = uuid.uuid4().hex[:8]
    base = get_settings()
    settings = base.model_copy(
        update={
            "database_url": urlunsplit(urlsplit(base.database_url)._replace(path=f"/stoppoc_bench_{suffix}")),
            "namespace": f"{base.namespace}-bench-{suffix}",
            "log_level": log_level,
        }
    )
    plan = Plan(conversions, conversions if burst else concurrency, alone, chains, timeout)
    progress = Progress()
    try:
        run = run_async(measure(settings, plan, progress, keep=keep))
    except (RuntimeError, TimeoutError) as error:  # a service exited, or the setup never finished
        fail(f"bench stopped: {error}")
    figures = run.figures(memory=memory)
    if as_json:
        echo_json(figures)
    else:
        click.echo(render(figures, RESOURCES))
    if keep:
        progress.done(f"kept: database {settings.database_url}, namespace {settings.namespace}")
    sys.exit(1 if figures["problems"] else 0)


@dataclass(frozen=True)
class Plan:
    conversions: int
    concurrency: int
    alone: int
    chains: int
    timeout: float


async def measure(settings: Settings, plan: Plan, progress: Progress, *, keep: bool = False) -> BenchRun:
    """A whole bench run on the database and namespace of ``settings``, which it creates and,
    unless ``keep``, removes."""
    names = topology.Names(settings.namespace)
    progress("creating the bench's database", force=True)
    await runner.migrate_all(settings)
    try:
        queues = f"{settings.queue_type} queues"
        progress(f"bare chain: {plan.chains} chains, {BARE_CHAIN_IN_FLIGHT} in flight, {queues}", force=True)
        bare = BareChain(
            settings.amqp_url, settings.database_url, settings.namespace, BARE_CHAIN_IN_FLIGHT, settings.queue_type
        )
        chain = await bare.measure(plan.chains, plan.alone)
        # Its own connections are taken before the services start: on a shared server they may
        # not be there later.
        async with (
            ServiceTables(settings.database_url) as tables,
            UsageMeter(broker_process(settings.amqp_url), settings.database_url) as meter,
        ):
            run = await _with_services(settings, plan, tables, meter, chain, progress)
        progress.done(f"services stopped, exit codes {_plain(run.exit_codes)}")
        return run
    finally:
        if not keep:
            await _clean_up(settings, names)


async def _with_services(
    settings: Settings, plan: Plan, tables: ServiceTables, meter: UsageMeter, chain: ChainFigures, progress: Progress
) -> BenchRun:
    with tempfile.TemporaryDirectory(prefix="stoppoc-bench-") as logs:
        processes = ServiceProcesses(settings, Path(logs))
        # The driver declares every queue first, so what it sends before a service consumes waits.
        async with Driver(settings.amqp_url, topology.Names(settings.namespace)) as driver:
            try:
                progress("starting the four services", force=True)
                await processes.start()
                meter.watch({s: psutil.Process(processes.processes[s].pid) for s in SERVICES})
                run = await _load(settings, plan, driver, processes, tables, meter, chain, progress)
            finally:
                progress("stopping the services", force=True)
                exit_codes = await processes.stop()
    run.exit_codes = exit_codes
    return run


async def _load(
    settings: Settings,
    plan: Plan,
    driver: Driver,
    processes: ServiceProcesses,
    tables: ServiceTables,
    meter: UsageMeter,
    chain: ChainFigures,
    progress: Progress,
) -> BenchRun:
    names = topology.Names(settings.namespace)
    run_id = settings.namespace.rsplit("-", 1)[-1]
    clusters = [BenchCluster(number, run_id) for number in range(plan.alone + plan.conversions)]
    lone_clusters, loaded = clusters[: plan.alone], clusters[plan.alone :]
    progress(f"registering and funding {len(clusters)} clusters", force=True)
    await driver.send_all(command for cluster in clusters for command in cluster.commands())
    wanted = Counter(
        {"resource.registered": sum(len(c.resources()) for c in clusters), "wallet.credited": len(clusters)}
    )
    await driver.wait_for_setup(wanted, plan.timeout, lambda text: progress(f"registering: {text}"))

    progress(f"{plan.alone} conversions one at a time", force=True)
    lone = await driver.trace_alone(lone_clusters, timeout=60)

    async with await aio_pika.connect(settings.amqp_url) as broker:
        channel = await broker.channel()
        await tables.quiet(channel, names)
        handled_before = await tables.handled()
        first = await meter.mark()
        outcomes, not_ended = await _converting(driver, processes, loaded, plan, progress)
        ended_at = time.perf_counter()
        progress("waiting for the services to finish what the load caused", force=True)
        handled_after = await tables.quiet(channel, names)
        last = await meter.mark()

    progress("reconciling every wallet", force=True)
    reconciliation = await reconcile(tables.payment, {c.customer_id: WALLET_CREDIT for c in clusters})
    return BenchRun(
        database=urlsplit(settings.database_url).path.lstrip("/"),
        namespace=settings.namespace,
        conversions=len(loaded),
        concurrency=plan.concurrency,
        seconds=ended_at - first.at,
        drained_seconds=last.at - first.at,
        outcomes=outcomes,
        not_ended=not_ended,
        handled={s: handled_after[s] - handled_before[s] for s in SERVICES},
        handled_in_run=handled_after,
        cpu_seconds=cpu_between(first, last),
        peak_rss_mib=meter.peak_mib(),
        rss_mib={service: list(samples) for service, samples in meter.rss_mib.items()},  # as of the peaks
        lone=lone,
        chain=chain,
        reconciliation=reconciliation,
        exit_codes={},
    )


async def _converting(
    driver: Driver, processes: ServiceProcesses, clusters: list[BenchCluster], plan: Plan, progress: Progress
) -> tuple[list[Outcome], list[str]]:
    """The load, with its progress shown; a service that exits meanwhile ends it with an error."""
    started, before = time.monotonic(), len(driver.finals)

    async def watch() -> None:
        while True:
            await asyncio.sleep(0.5)
            processes.check_running()
            ended = len(driver.finals) - before
            progress(f"converting: {ended}/{len(clusters)} ended, {ended / (time.monotonic() - started):.0f}/s")

    converting = asyncio.create_task(convert_all(driver, clusters, plan.concurrency, plan.timeout))
    watching = asyncio.create_task(watch())
    await asyncio.wait({converting, watching}, return_when=asyncio.FIRST_COMPLETED)
    for task in (converting, watching):
        task.cancel()
    await asyncio.gather(converting, watching, return_exceptions=True)
    if not watching.cancelled() and (exited := watching.exception()):
        raise exited
    return converting.result()


def _plain(values: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in values.items())


async def _clean_up(settings: Settings, names: topology.Names) -> None:
    await topology.delete(settings.amqp_url, names, SERVICES)
    parts = urlsplit(settings.database_url)
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await SQL.bind(admin).drop_database(database=parts.path.lstrip("/"))
    finally:
        await admin.close()
