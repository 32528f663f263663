"""Runs services in this process until SIGINT or SIGTERM, then stops them gracefully."""

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Iterable

from stoppoc.services import registry
from stoppoc.services.registry import SERVICES
from stoppoc.shared import db, topology, tracing
from stoppoc.shared.http import HttpServer
from stoppoc.shared.service import Runtime, ServiceApp
from stoppoc.shared.settings import Settings


def event_loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop if asked for and installed (the hops' own Python work is a fifth to a third
    faster on it: docs/performance.md); None: Python's own."""
    if settings.event_loop != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:  # not built for this platform (Windows)
        return None
    return uvloop.new_event_loop


async def migrate_all(settings: Settings, services: Iterable[str] = SERVICES) -> dict[str, list[str]]:
    await db.ensure_database(settings.database_url)
    conn = await db.connect(settings.database_url)
    try:
        return {service: await db.migrate(conn, service, f"stoppoc.services.{service}") for service in services}
    finally:
        await conn.close()


async def declare_topology(settings: Settings) -> None:
    """Every service's queue, so that what is sent before a service first starts waits for it."""
    await topology.declare_at(
        settings.amqp_urls, topology.Names(settings.namespace), registry.topology(), topology.QueueOptions.of(settings)
    )


def build(settings: Settings, services: Iterable[str] = SERVICES) -> list[ServiceApp]:
    # Each declares every service's queue as it starts, as `stoppoc migrate` does.
    everything = registry.topology()
    return [registry.definition(service).build(settings, declared=everything) for service in services]


@contextlib.asynccontextmanager
async def running_apps(apps: list[ServiceApp]) -> AsyncIterator[list[ServiceApp]]:
    """Started one after another; stopped side by side, so that ``run all`` stops within one
    service's shutdown budget, not four."""
    running = []
    try:
        for app in apps:
            await app.start()
            running.append(app)
        yield apps
    finally:
        stopped = await asyncio.gather(*(app.stop() for app in running), return_exceptions=True)
        if failures := [result for result in stopped if isinstance(result, BaseException)]:
            raise failures[0]


@contextlib.asynccontextmanager
async def started(settings: Settings, services: Iterable[str] = SERVICES) -> AsyncIterator[list[ServiceApp]]:
    async with running_apps(build(settings, services)) as apps:
        yield apps


@contextlib.asynccontextmanager
async def serving(settings: Settings, runtimes: Iterable[Runtime]) -> AsyncIterator[HttpServer | None]:
    """/health/live, /health/ready and /metrics for these services, when STOPPOC_HTTP_PORT is set."""
    if settings.http_port is None:
        yield None
        return
    server = HttpServer(settings.http_host, settings.http_port, runtimes)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def run_until_signalled(settings: Settings, services: Iterable[str] = SERVICES) -> None:
    services = tuple(services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tracing.configure("stoppoc" if len(services) > 1 else f"stoppoc-{services[0]}", settings.traces_file)
    apps = build(settings, services)
    try:
        # Serving first: live (and not ready) while the services start, migrations and all.
        async with serving(settings, [app.runtime for app in apps]), running_apps(apps):
            await stop.wait()
    finally:
        tracing.shutdown()
