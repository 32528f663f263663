"""What the CLI's read and admin commands share: a database connection and clean exits.

These commands are tools for billing staff and operators, not services: they read the
services' schemas directly (``inventory.``, ``checkout.``, ``payment.``) and change nothing
unless the command says so.
"""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import click

from shared.db import redact
from shared.errors import ServiceUnavailable
from shared.settings import get_settings

T = TypeVar("T")


def fail(message: str, code: int = 1) -> None:
    click.echo(f"stoppoc: {message}", err=True)
    sys.exit(code)


def run_async(coro: Awaitable[T]) -> T:
    """Run a command's coroutine; an unreachable broker or database is one line and exit 2."""
    try:
        return asyncio.run(coro)
    except ServiceUnavailable as error:
        fail(str(error), 2)


def with_database(fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def go() -> T:
        url = get_settings().database_url
        try:
            conn = await asyncpg.connect(url)
        except (OSError, asyncpg.PostgresError) as error:
            raise ServiceUnavailable(f"cannot reach PostgreSQL at {redact(url)}: {error}") from error
        try:
            return await fn(conn)
        except asyncpg.UndefinedTableError as error:
            raise ServiceUnavailable(f"the database has no stoppoc tables ({error}): run `stoppoc migrate`") from error
        finally:
            await conn.close()

    return run_async(go())
