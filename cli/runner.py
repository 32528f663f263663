"""Runs services in this process until SIGINT or SIGTERM, then stops them gracefully."""

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Iterable

from stoppoc.services import registry
from stoppoc.services.registry import SERVICES
from stoppoc.shared import db, topology
from stoppoc.shared.service import ServiceApp
from stoppoc.shared.settings import Settings


async def migrate_all(settings: Settings, services: Iterable[str] = SERVICES) -> dict[str, list[str]]:
    await db.ensure_database(settings.database_url)
    conn = await db.connect(settings.database_url)
    try:
        return {service: await db.migrate(conn, service, f"stoppoc.services.{service}") for service in services}
    finally:
        await conn.close()


async def declare_topology(settings: Settings) -> None:
    """Every service's queue, so that what is sent before a service first starts waits for it."""
    await topology.declare_at(settings.amqp_url, topology.Names(settings.namespace), registry.topology())


@contextlib.asynccontextmanager
async def started(settings: Settings, services: Iterable[str] = SERVICES) -> AsyncIterator[list[ServiceApp]]:
    # Each declares every service's queue as it starts, as `stoppoc migrate` does.
    everything = registry.topology()
    apps = [registry.definition(service).build(settings, declared=everything) for service in services]
    running = []
    try:
        for app in apps:
            await app.start()
            running.append(app)
        yield apps
    finally:
        for app in reversed(running):
            await app.stop()


async def run_until_signalled(settings: Settings, services: Iterable[str] = SERVICES) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with started(settings, services):
        await stop.wait()
