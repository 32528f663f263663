"""What the CLI's commands share: clean exits and each service's queries on the database.

The read and admin commands are tools for billing staff and operators, not services: they read
each service's schema through that service's own queries (its ``queries.sql``) and change nothing
unless the command says so.
"""

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import asyncpg
import click

from stoppoc.contract.errors import ServiceUnavailable
from stoppoc.shared import db
from stoppoc.shared.queries import BoundQueries, Queries
from stoppoc.shared.settings import get_settings
from stoppoc.shared.topology import QueueMismatch

T = TypeVar("T")

# Exit codes, the same for every command (docs/operations.md). TIMEOUT: a command that awaits an
# answer (`request-stop --wait`, `quote`) got none in time; what it sent may still be handled.
OK, NEGATIVE, USAGE, UNREACHABLE, TIMEOUT = 0, 1, 2, 3, 4


def fail(message: str, code: int = NEGATIVE) -> NoReturn:
    click.echo(f"stoppoc: {message}", err=True)
    sys.exit(code)


def run_async(coro: Coroutine[Any, Any, T], loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> T:
    """Run a command's coroutine; an unreachable broker or database is one line and exit 3, a
    queue of another type than the settings ask (it names the fix) one line and exit 1."""
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(coro)
    except ServiceUnavailable as error:
        fail(str(error), UNREACHABLE)
    except QueueMismatch as error:
        fail(str(error), NEGATIVE)


@contextlib.asynccontextmanager
async def service_queries(queries: Queries, schema: str, *, transaction: bool = False) -> AsyncIterator[BoundQueries]:
    """A service's queries on a connection whose search path is the service's schema."""
    # A read is read-only whatever the role may do; staff read through a read-only role as well.
    conn = await db.connect(get_settings().database_url, schema, read_only=not transaction)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if transaction:
                await stack.enter_async_context(conn.transaction())
            yield queries.bind(conn)
    except asyncpg.UndefinedTableError as error:
        raise ServiceUnavailable(f"the database has no stoppoc tables ({error}): run `stoppoc migrate`") from error
    finally:
        await conn.close()


def read(fn: Callable[..., Awaitable[T]], **services: Queries) -> T:
    """``read(fn, checkout=CHECKOUT)``: call ``fn(checkout=<bound queries>)`` and return what it gives."""

    async def go() -> T:
        async with contextlib.AsyncExitStack() as stack:
            bound = {name: await stack.enter_async_context(service_queries(q, name)) for name, q in services.items()}
            return await fn(**bound)

    return run_async(go())


def write(fn: Callable[[BoundQueries], Awaitable[T]], queries: Queries, schema: str) -> T:
    """``fn(bound)`` in one transaction on ``schema``: all of it happens, or none."""

    async def go() -> T:
        async with service_queries(queries, schema, transaction=True) as bound:
            return await fn(bound)

    return run_async(go())
