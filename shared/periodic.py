"""Work a service does on a clock rather than on a message (expiring waits, reminders, and in
every service the pruning of its messaging tables).

Each run is one transaction with a unit of work, like a handler's; instances of a service
run the same task side by side, so tasks claim rows with ``FOR UPDATE SKIP LOCKED``. A task that
returns True has more to do and runs again at once.

Ticks are not traced (a stream of database spans belonging to no conversion); what a run emits is
logged with its message, correlation and trace ids, a failed run with those of the last message it
had emitted (what it was at), and every line of a run names its task.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import asyncpg
import structlog

from stoppoc.contract.envelope import Envelope
from stoppoc.shared import tracing
from stoppoc.shared.logging import get_logger, message_context
from stoppoc.shared.outbox import OutboxRelay
from stoppoc.shared.queries import Queries
from stoppoc.shared.retention import prune_messaging
from stoppoc.shared.settings import Settings
from stoppoc.shared.unit_of_work import UnitOfWork


def _sweep_seconds(settings: Settings) -> float:
    return settings.sweep_seconds


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    fn: Callable[[UnitOfWork], Awaitable[bool | None]]
    interval: Callable[[Settings], float] = _sweep_seconds
    # Wait one interval before the first run: the pruning leaves a starting instance the time to
    # take back the deliveries an earlier one left unacknowledged (they may need their inbox rows).
    wait_first: bool = False


PRUNE_MESSAGING = PeriodicTask(
    "prune-messaging", prune_messaging, interval=lambda settings: settings.prune_seconds, wait_first=True
)


class PeriodicRunner:
    def __init__(
        self,
        tasks: Iterable[PeriodicTask],
        pool: asyncpg.Pool,
        queries: Queries,
        source: str,
        settings: Settings,
        relay: OutboxRelay,
    ) -> None:
        self._tasks = [*tasks, PRUNE_MESSAGING]
        self._pool = pool
        self._queries = queries
        self._source = source
        self._settings = settings
        self._relay = relay
        self._running: list[asyncio.Task[None]] = []
        self._log = get_logger("stoppoc.periodic", source=source)

    def start(self) -> None:
        self._running = [asyncio.create_task(self._loop(task), name=task.name) for task in self._tasks]

    async def stop(self) -> None:
        for running in self._running:
            running.cancel()
        for running in self._running:
            with contextlib.suppress(asyncio.CancelledError):
                await running
        self._running = []

    async def run_once(self, task: PeriodicTask) -> bool:
        """One run in one transaction; True if the task has more to do. A failure is logged
        (naming what the run had emitted last) and raised."""
        uow: UnitOfWork | None = None
        try:
            with tracing.quiet():
                async with self._pool.acquire() as conn, conn.transaction():
                    uow = UnitOfWork(conn, self._queries.bind(conn), self._source, self._settings)
                    more = await task.fn(uow)
                    await uow.flush()
        except Exception:
            last = uow.envelopes[-1:] if uow else []
            with structlog.contextvars.bound_contextvars(**(_ids(last[0]) if last else {})):
                self._log.exception("periodic task failed", task=task.name)
            raise
        if uow.emitted:
            self._relay.wake()
            for envelope in uow.emitted:
                with structlog.contextvars.bound_contextvars(**_ids(envelope)):
                    self._log.info("periodic task emitted", emitted=envelope.type)
        return bool(more)

    async def _loop(self, task: PeriodicTask) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(task=task.name)
        interval = task.interval(self._settings)
        if task.wait_first:
            await asyncio.sleep(interval)
        while True:
            more = False
            try:
                more = await self.run_once(task)
            except asyncio.CancelledError:
                raise
            except Exception:  # logged by run_once; the next tick tries again
                pass
            if not more:
                await asyncio.sleep(interval)


def _ids(envelope: Envelope) -> dict[str, str]:
    return message_context(envelope.id, envelope.correlationid, envelope.traceparent)
