"""The outbox relay: publishes committed outbox rows with publisher confirms.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` so several instances never publish the
same row at the same time; a row is stamped published only after the broker confirmed it.
A crash between the confirm and the stamp publishes the row again: consumers drop the
duplicate through their inbox.

While the broker or the database is away the relay backs off (capped, with jitter, so that it
is publishing again within seconds of their return) and keeps what is pending in the table.
"""

import asyncio
import contextlib

import asyncpg
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange

from stoppoc.contract.envelope import CONTENT_TYPE
from stoppoc.shared.logging import get_logger
from stoppoc.shared.messaging import QUERIES as MESSAGING
from stoppoc.shared.messaging import OutboxRow
from stoppoc.shared.retry import backoff_seconds
from stoppoc.shared.topology import Names

BATCH_SIZE = 100
# A batch whose confirms do not come in this time is rolled back (its rows stay pending), so
# a broker that stalls (flow control, a half-open socket) cannot hold the rows' locks forever.
BATCH_TIMEOUT_SECONDS = 30.0
# The longest wait between two attempts while the broker or the database is away.
MAX_BACKOFF_SECONDS = 5.0


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, broker: RabbitBroker, names: Names, poll_seconds: float):
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
        self._log = get_logger(component="outbox-relay")

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self, timeout: float = 10.0) -> None:
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

    async def publish_batch(self) -> int:
        """Publish up to a batch of pending rows; stamp those the broker confirmed, even when
        it went away mid-batch, so that only the unconfirmed rows are published again. The row
        that failed keeps the error, for operators and tests to see."""
        failure: Exception | None = None
        async with self._pool.acquire() as conn, conn.transaction():
            q = MESSAGING.bind(conn)
            rows: list[OutboxRow] = await q.claim_outbox(batch_size=BATCH_SIZE)
            confirmed = []
            try:
                async with asyncio.timeout(BATCH_TIMEOUT_SECONDS):
                    for row in rows:
                        await self._publish(row)
                        confirmed.append(row.id)
            except Exception as error:
                failure = error
                await q.record_publish_failure(id=rows[len(confirmed)].id, error=repr(error)[:1000])
            if confirmed:
                await q.stamp_published(ids=confirmed)
        if failure is not None:
            raise failure
        return len(rows)

    async def _publish(self, row: OutboxRow) -> None:
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
        failures = 0
        while True:
            stopping = self._stopping
            self._wake.clear()
            try:
                published = await self.publish_batch()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:  # broker or database away: back off, try again
                failures += 1
                self._log.warning("outbox publish failed", error=repr(error), failures=failures)
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
