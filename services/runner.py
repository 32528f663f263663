"""Runs services in this process until SIGINT or SIGTERM, then stops them gracefully."""

import asyncio
import contextlib
import importlib
import signal

import asyncpg

from shared import db
from shared.settings import Settings
from shared.topology import SERVICES


def build_app(service: str, settings: Settings):
    return importlib.import_module(f"services.{service}.app").build(settings)


async def migrate_all(settings: Settings, services=SERVICES) -> dict[str, list[str]]:
    await db.ensure_database(settings.database_url)
    conn = await asyncpg.connect(settings.database_url)
    try:
        return {service: await db.migrate(conn, service, f"services.{service}") for service in services}
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def started(settings: Settings, services=SERVICES):
    apps = [build_app(service, settings) for service in services]
    running = []
    try:
        for app in apps:
            await app.start()
            running.append(app)
        yield apps
    finally:
        for app in reversed(running):
            await app.stop()


async def run_until_signalled(settings: Settings, services=SERVICES) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with started(settings, services):
        await stop.wait()
