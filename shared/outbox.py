"""The outbox relay: publishes committed outbox rows with publisher confirms.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` so several instances never publish the
same row at the same time; a row is stamped published only after the broker confirmed it.
A crash between the confirm and the stamp publishes the row again: consumers drop the
duplicate through their inbox.

While the broker or the database is away the relay backs off (capped, with jitter, so that it
is publishing again within seconds of their return) and keeps what is pending in the table.

Each row is published in a span of the trace it was written in (its stored ``traceparent``) and
counted (shared/metrics.py: the business figures come from what is published). The backlog
(``stoppoc_outbox_pending``, ``stoppoc_outbox_oldest_age_seconds``) is sampled about once a second,
and ``health()`` tells readiness whether the relay runs and is not stuck.
"""

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
import structlog
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange

from stoppoc.contract.envelope import CONTENT_TYPE
from stoppoc.shared import metrics, tracing
from stoppoc.shared.logging import get_logger, message_context
from stoppoc.shared.messaging import QUERIES as MESSAGING
from stoppoc.shared.messaging import OutboxBacklog, OutboxRow
from stoppoc.shared.retry import backoff_seconds
from stoppoc.shared.topology import Names

BATCH_SIZE = 100
# A batch whose confirms do not come in this time is rolled back (its rows stay pending), so
# a broker that stalls (flow control, a half-open socket) cannot hold the rows' locks forever.
BATCH_TIMEOUT_SECONDS = 30.0
# The longest wait between two attempts while the broker or the database is away.
MAX_BACKOFF_SECONDS = 5.0
# How often the backlog gauges are refreshed (one cheap query on the partial index).
BACKLOG_SAMPLE_SECONDS = 1.0
# A relay that has not finished a round for this long is stuck (a batch may take up to
# BATCH_TIMEOUT_SECONDS, and the backoff adds at most MAX_BACKOFF_SECONDS).
STUCK_AFTER_SECONDS = 2 * BATCH_TIMEOUT_SECONDS
# How long a stopping relay may take to publish what is pending (the last step of a shutdown).
FLUSH_SECONDS = 10.0


class PublishFailed(Exception):
    """The broker did not take (or confirm) this row; the error it got is the cause."""

    def __init__(self, row: OutboxRow, error: BaseException) -> None:
        super().__init__(f"{row.routing_key} {row.message_id}: {error!r}")
        self.row = row
        self.error = error


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, broker: RabbitBroker, names: Names, poll_seconds: float, service: str):
        self.service = service
        self._pool = pool
        self._broker = broker
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._exchanges = {
            kind: RabbitExchange(name, type=ExchangeType.TOPIC, durable=True, declare=False)
            for kind, name in (("events", names.events), ("commands", names.commands))
        }
        self._log = get_logger("stoppoc.outbox", service=service)
        self._last_round = time.monotonic()  # the end of the last round, successful or not
        self._last_error: str | None = None
        self._sampled = 0.0

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self, timeout: float = FLUSH_SECONDS) -> None:
        """Publish what is pending, then stop. The loop is asked to finish rather than
        cancelled, since a batch cut short after its confirms would be published again."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(self._task, timeout)
        except TimeoutError:
            self._log.warning("outbox relay did not finish in time; the rest is published at next start")
        self._task = None

    def health(self) -> dict[str, Any]:
        """For readiness: running, and not stuck in a round."""
        if self._task is None or self._task.done():
            return {"ok": False, "detail": "the outbox relay is not running"}
        silent = time.monotonic() - self._last_round
        if silent > STUCK_AFTER_SECONDS:
            return {"ok": False, "detail": f"the outbox relay has not finished a round for {silent:.0f} s"}
        if self._last_error is not None:
            return {"ok": False, "detail": f"the outbox relay cannot publish: {self._last_error}"}
        return {"ok": True}

    async def publish_batch(self) -> int:
        """Publish up to a batch of pending rows; stamp those the broker confirmed, even when
        it went away mid-batch, so that only the unconfirmed rows are published again. The row
        that failed keeps the error, for operators and tests to see."""
        failure: PublishFailed | None = None
        published: list[OutboxRow] = []
        async with self._pool.acquire() as conn, conn.transaction():
            q = MESSAGING.bind(conn)
            with tracing.quiet():
                rows: list[OutboxRow] = await q.claim_outbox(batch_size=BATCH_SIZE)
            # All at once: each publish reaches the channel in the rows' order (the client writes
            # a channel's frames in the order they come) and the confirms are awaited together,
            # rather than one confirm's round trip after another.
            sending = [asyncio.ensure_future(self._publish(row)) for row in rows]
            try:
                if sending:
                    _, late = await asyncio.wait(sending, timeout=BATCH_TIMEOUT_SECONDS)
                    for sent in late:  # their confirms never came: those rows stay pending
                        sent.cancel()
                    await asyncio.gather(*late, return_exceptions=True)
            except asyncio.CancelledError:
                for sent in sending:
                    sent.cancel()
                raise
            for row, sent in zip(rows, sending, strict=True):
                timed_out = sent.cancelled()
                error = TimeoutError(f"no confirm in {BATCH_TIMEOUT_SECONDS:.0f} s") if timed_out else sent.exception()
                if error is None:
                    published.append(row)
                elif failure is None:  # the first failure keeps its error, for operators and tests
                    failure = PublishFailed(row, error)
                    await q.record_publish_failure(id=row.id, error=repr(error)[:1000])
            if published:
                with tracing.quiet():
                    await q.stamp_published(ids=[row.id for row in published])
        for row in published:
            metrics.count_published(self.service, row.routing_key, bytes(row.body))
        if failure is not None:
            raise failure from failure.error
        return len(rows)

    async def _publish(self, row: OutboxRow) -> None:
        # What the client libraries log while the row is sent names it (each send is a task of its own).
        structlog.contextvars.bind_contextvars(**message_context(row.message_id, row.correlation_id, row.traceparent))
        with tracing.publishing(
            self.service,
            row.routing_key,
            row.traceparent,
            message_id=row.message_id,
            correlation_id=row.correlation_id,
        ):
            if trace_id := tracing.current_trace_id():
                structlog.contextvars.bind_contextvars(trace_id=trace_id)
            await self._send(row)

    def _log_failure(self, error: Exception, failures: int) -> None:
        """The warning names the row that failed, when one did (not when the database is away)."""
        if isinstance(error, PublishFailed):
            row = error.row
            with structlog.contextvars.bound_contextvars(
                **message_context(row.message_id, row.correlation_id, row.traceparent)
            ):
                self._log.warning(
                    "outbox publish failed",
                    error=repr(error.error),
                    routing_key=row.routing_key,
                    outbox_id=row.id,
                    failures=failures,
                )
        else:
            self._log.warning("outbox publish failed", error=repr(error), failures=failures)

    async def _sample_backlog(self) -> None:
        now = time.monotonic()
        if now - self._sampled < BACKLOG_SAMPLE_SECONDS:
            return
        self._sampled = now
        try:
            with tracing.quiet():
                backlog: OutboxBacklog = await MESSAGING.bind(self._pool).outbox_backlog()
        except Exception as error:  # the database is away: the gauges keep their last values
            self._log.debug("outbox backlog not sampled", error=repr(error))
            return
        metrics.OUTBOX_PENDING.labels(self.service).set(backlog.pending)
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(backlog.oldest_age_seconds)

    async def _send(self, row: OutboxRow) -> None:
        await self._broker.publish(
            bytes(row.body),
            exchange=self._exchanges[row.exchange],
            routing_key=row.routing_key,
            persist=True,
            mandatory=False,
            content_type=CONTENT_TYPE,
            message_id=row.message_id,
        )

    async def _run(self) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(service=self.service)
        failures = 0
        while True:
            stopping = self._stopping
            self._wake.clear()
            try:
                published = await self.publish_batch()
                failures, self._last_error = 0, None
                self._last_round = time.monotonic()
                await self._sample_backlog()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # broker or database away: back off, try again
                failures += 1
                self._last_round, self._last_error = time.monotonic(), repr(error)
                self._log_failure(error, failures)
                await self._sample_backlog()
                if stopping:
                    return
                delay = backoff_seconds(failures, self._poll_seconds, MAX_BACKOFF_SECONDS, floor=0.5)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            if published == BATCH_SIZE:
                continue
            if stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
