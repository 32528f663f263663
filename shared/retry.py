"""Which failures are worth another attempt, and how long to wait before it."""

import asyncio
import random

import asyncpg

_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57")  # connection, rollback, resources, operator


def is_transient(error: BaseException) -> bool:
    if isinstance(error, (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.InternalClientError)):
        return True
    if isinstance(error, asyncpg.PostgresError):
        sqlstate = getattr(error, "sqlstate", "") or ""
        return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return False


def backoff_seconds(attempt: int, base: float, cap: float = 10.0) -> float:
    """Exponential backoff with full jitter: attempt 1 waits up to ``base``."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


async def backoff(attempt: int, base: float) -> None:
    await asyncio.sleep(backoff_seconds(attempt, base))
