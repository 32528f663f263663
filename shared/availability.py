"""Whether a service may take messages, and the database outages that stop it.

An outage is not the message's fault, so it must never cost a message its attempts or send it to
the dead-letter queue. When a handling attempt fails and the database does not answer a plain
``SELECT 1`` either, the service pauses its consumer (no new deliveries; readiness 503), holds the
messages already in hand and waits; a probe checks the database with backoff and, once it
answers, the consumer resumes and the held messages are tried again, as if nothing had happened.
A message held longer than ``STOPPOC_OUTAGE_HOLD_SECONDS`` is handed back to its queue, well
before RabbitMQ's consumer timeout would close the channel over it.

The consumer is also kept paused while its queue has the wrong type (``topology``): the reason
and its fix show in ``/health/ready``.
"""

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from stoppoc.shared import metrics
from stoppoc.shared.logging import get_logger
from stoppoc.shared.messaging import QUERIES as MESSAGING
from stoppoc.shared.retry import backoff_seconds

PROBE_TIMEOUT_SECONDS = 3.0
PROBE_CAP_SECONDS = 5.0  # the longest wait between two probes while the database is away


class ConsumerGate:
    """Open while nothing stops the service taking messages; ``reasons`` name what does."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.reasons: dict[str, str] = {}
        self._pause: Callable[[], Awaitable[None]] | None = None
        self._resume: Callable[[], Awaitable[None]] | None = None
        self._lock = asyncio.Lock()
        self._log = get_logger("stoppoc.availability", service=service)

    def attach(self, pause: Callable[[], Awaitable[None]], resume: Callable[[], Awaitable[None]]) -> None:
        """How to stop and start the consumer, once the broker has started it."""
        self._pause, self._resume = pause, resume

    @property
    def is_open(self) -> bool:
        return not self.reasons

    async def close(self, reason: str, detail: str) -> None:
        async with self._lock:
            first = not self.reasons
            self.reasons[reason] = detail
            if first:
                self._log.warning("consumer paused", reason=reason, detail=detail)
                metrics.CONSUMING.labels(self.service).set(0)
                if self._pause is not None:
                    await self._pause()

    async def open(self, reason: str) -> None:
        async with self._lock:
            if self.reasons.pop(reason, None) is None or self.reasons:
                return
            self._log.info("consumer resumed", reason=reason)
            metrics.CONSUMING.labels(self.service).set(1)
            if self._resume is not None:
                await self._resume()

    async def apply(self) -> None:
        """Pause the consumer just started if a reason was found before (at startup)."""
        async with self._lock:
            metrics.CONSUMING.labels(self.service).set(0 if self.reasons else 1)
            if self.reasons and self._pause is not None:
                await self._pause()


class DatabaseWatch:
    """Knows whether the service's database answers; during an outage, probes it until it does."""

    def __init__(self, database_url: str, gate: ConsumerGate, retry_base: float) -> None:
        self._database_url = database_url
        self._gate = gate
        self._retry_base = retry_base
        self._up = asyncio.Event()
        self._up.set()
        self._probe: asyncio.Task[None] | None = None
        self.since: float | None = None  # monotonic time the outage began
        self._log = get_logger("stoppoc.availability", service=gate.service)

    @property
    def down(self) -> bool:
        return not self._up.is_set()

    async def answers(self) -> str | None:
        """None when ``SELECT 1`` answers in time, else what went wrong. On a connection of its
        own: a pool whose connections are all busy (handlers waiting on locks) is no outage."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                conn = await asyncpg.connect(self._database_url)
                try:
                    await MESSAGING.bind(conn).ping()
                finally:
                    await conn.close()
        except Exception as error:
            return repr(error)
        return None

    async def confirm_outage(self) -> bool:
        """After a failed attempt: True (and the consumer paused) if the database is away,
        False if it answers (the failure was the message's own: a deadlock, a cut connection)."""
        if self.down:
            return True
        problem = await self.answers()
        if problem is None:
            return False
        await self.outage(problem)
        return True

    async def outage(self, detail: str) -> None:
        if self.down:
            return
        self._up.clear()
        self.since = time.monotonic()
        await self._gate.close("database", f"database unreachable: {detail}")
        # A context of its own: not the log context of the message that noticed the outage.
        self._probe = asyncio.create_task(
            self._until_back(), name=f"database-probe-{self._gate.service}", context=contextvars.Context()
        )

    async def wait_until_up(self, timeout: float) -> bool:
        """Wait for the end of the outage; False if it lasted longer than ``timeout``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._up.wait()
        return self._up.is_set()

    async def _until_back(self) -> None:
        attempt = 0
        while True:
            attempt += 1
            await asyncio.sleep(backoff_seconds(attempt, self._retry_base, PROBE_CAP_SECONDS, floor=0.5))
            if await self.answers() is None:
                break
        lasted = time.monotonic() - (self.since or time.monotonic())
        self._log.info("database back", outage_seconds=round(lasted, 1))
        self.since = None
        self._up.set()
        await self._gate.open("database")

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe

    def status(self) -> dict[str, Any]:
        if self.down:
            return {"ok": False, "detail": self._gate.reasons.get("database", "database unreachable")}
        return {"ok": True}
