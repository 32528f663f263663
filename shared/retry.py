"""Which failures are worth another attempt, and how long to wait before it."""

import asyncio
import random

import asyncpg
from aiormq.exceptions import ChannelInvalidStateError

_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57")  # connection, rollback, resources, operator


def is_transient(error: BaseException) -> bool:
    # OSError covers lost sockets and aiormq's AMQPConnectionError; a channel caught mid-reconnect
    # by the robust connection raises ChannelInvalidStateError.
    if isinstance(
        error, (OSError, TimeoutError, ChannelInvalidStateError, asyncpg.InterfaceError, asyncpg.InternalClientError)
    ):
        return True
    if isinstance(error, asyncpg.PostgresError):
        sqlstate = getattr(error, "sqlstate", "") or ""
        return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return False


def backoff_seconds(attempt: int, base: float, cap: float = 10.0, *, floor: float = 0.0) -> float:
    """Exponential backoff with jitter: attempt 1 waits up to ``base``, never more than ``cap``.

    ``floor`` is the share of the wait that is not random (0: full jitter).
    """
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return random.uniform(ceiling * floor, ceiling)


async def backoff(attempt: int, base: float) -> None:
    await asyncio.sleep(backoff_seconds(attempt, base))
