"""How a service takes a message off its queue.

Parse the envelope, find the handler, validate the data, then run the handler in one
transaction together with the inbox row of the message and the outbox rows it emits.
The message is acknowledged only after that transaction commits. A transient failure is
retried with bounded backoff; a permanent one, or the last failed attempt, sends the message
to the queue's dead-letter queue with headers saying why, and the consumer goes on.

A message the broker delivers again (a crash or a lost connection left it unacknowledged) is
counted in ``redeliveries`` before anything else happens to it; past ``max_deliveries`` it is
dead-lettered with ``redelivery_limit``, so one whose handling kills the process cannot loop
forever. On a quorum queue the broker counts the same deliveries (``x-delivery-count``) and the
larger of the two counts; its own delivery limit is the service's, a backstop it never reaches first.

A database outage costs a message nothing: the attempt that failed is not counted, the consumer
pauses and the message waits in hand until the database answers again (shared/availability.py).
A body larger than ``STOPPOC_MAX_MESSAGE_BYTES`` is dead-lettered unread, and so is a message
whose headers nest deeper than ``amqp_tables.MAX_DEPTH`` (``unreadable_headers``).

Every message is counted (shared/metrics.py) by routing key and outcome, and handled in a span
of the conversion's trace (shared/tracing.py), whose id is bound in every log line.
"""

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any, TypeVar

import asyncpg
import structlog
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange
from faststream.rabbit.message import RabbitMessage
from pydantic import BaseModel

from stoppoc.client.amqp_tables import MAX_DEPTH, publishable, unreadable_in
from stoppoc.contract import validate_data
from stoppoc.contract.envelope import CONTENT_TYPE, Envelope, utc_now
from stoppoc.contract.errors import InvalidData, MessageTooLarge, PermanentMessageError, UnreadableHeaders
from stoppoc.shared import metrics, tracing
from stoppoc.shared.availability import DatabaseWatch
from stoppoc.shared.dead_letters import REDELIVERY_LIMIT, REPLAYED_AT, DeadLetterReason, dead_letter_headers
from stoppoc.shared.handlers import Forward, Handler, HandlerRegistry, Reply
from stoppoc.shared.logging import get_logger
from stoppoc.shared.messaging import QUERIES as MESSAGING
from stoppoc.shared.messaging import Redelivery
from stoppoc.shared.outbox import OutboxRelay
from stoppoc.shared.queries import Queries
from stoppoc.shared.retry import backoff, is_transient
from stoppoc.shared.settings import Settings
from stoppoc.shared.topology import Names, check_route
from stoppoc.shared.unit_of_work import UnitOfWork, envelope_for


def delivery_key(message: RabbitMessage) -> str:
    """What redeliveries are counted under: the message id (a digest of the body for a message
    without one) and, for a message an operator replayed, the replay: each starts a fresh count."""
    raw = message.raw_message
    key = raw.message_id or f"sha256:{hashlib.sha256(message.body).hexdigest()}"
    replayed_at = (raw.headers or {}).get(REPLAYED_AT)
    if isinstance(replayed_at, bytes):
        replayed_at = replayed_at.decode(errors="replace")
    return f"{key} replayed {replayed_at}" if replayed_at else key


T = TypeVar("T")

# What became of a message (the `outcome` label of stoppoc_messages_handled_total).
ACKNOWLEDGED, DUPLICATE, ANSWERED, DEAD_LETTERED, RETURNED = (
    "acknowledged",
    "duplicate",
    "answered",
    "dead_lettered",
    "returned",
)


class _HandBack(Exception):
    """The message waited for the database longer than the hold allows: back to its queue."""


class _GiveUp(Exception):
    def __init__(self, reason: DeadLetterReason) -> None:
        self.reason = reason


def broker_deliveries(message: RabbitMessage) -> int:
    """Deliveries so far by a quorum queue's count (``x-delivery-count``: the failed ones before
    this); 0 where the queue does not count (classic)."""
    count = (message.raw_message.headers or {}).get("x-delivery-count")
    return int(count) + 1 if isinstance(count, int) else 0


class Consumer:
    def __init__(
        self,
        service: str,
        registry: HandlerRegistry,
        queries: Queries,
        pool: asyncpg.Pool,
        broker: RabbitBroker,
        relay: OutboxRelay,
        names: Names,
        settings: Settings,
        watch: DatabaseWatch,
    ) -> None:
        self.service = service
        self.source = f"/stoppoc/{service}"
        self._registry = registry
        self._queries = queries
        self._pool = pool
        self._broker = broker
        self._relay = relay
        self._names = names
        self._settings = settings
        self._watch = watch
        self._max_attempts = settings.max_attempts
        self._max_deliveries = settings.max_deliveries
        self._retry_base = settings.retry_base_seconds
        # Not NS.dlx (the broker's): on this topic exchange the service may use only its queue's name.
        self._dead_letters = RabbitExchange(names.dead_letters, type=ExchangeType.TOPIC, durable=True, declare=False)
        self._commands = RabbitExchange(names.commands, type=ExchangeType.TOPIC, durable=True, declare=False)
        self._log = get_logger("stoppoc.consumer", service=service)
        self._in_hand: set[asyncio.Task[Any]] = set()

    async def on_message(self, message: RabbitMessage) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(service=self.service, delivery_tag=message.raw_message.delivery_tag)
        routing_key = metrics.routing_key_label(message.raw_message.routing_key)
        metrics.MESSAGES_RECEIVED.labels(self.service, routing_key).inc()
        started = time.perf_counter()
        task = asyncio.current_task()
        assert task is not None  # FastStream runs each message in a task of its own
        self._in_hand.add(task)
        outcome = RETURNED  # abandoned at shutdown (cancelled): the broker delivers it again
        try:
            try:
                outcome = await self._handle(message)
            except Exception:
                # Not even the dead-letter queue took it (the broker is likely away): hand the
                # message back so it is delivered again rather than lost.
                self._log.exception("message returned to its queue")
            if outcome == RETURNED:
                with contextlib.suppress(Exception):
                    await message.nack(requeue=True)
            else:
                await self._acknowledge(message)
        finally:
            metrics.MESSAGES_HANDLED.labels(self.service, routing_key, outcome).inc()
            metrics.HANDLING_SECONDS.labels(self.service, routing_key).observe(time.perf_counter() - started)
            self._in_hand.discard(task)
            structlog.contextvars.clear_contextvars()

    async def abandon_in_hand(self) -> int:
        """Cancel the handling still going on once the graceful timeout is over: each
        transaction rolls back, and the broker delivers the message again (to another instance,
        or to this one once it is back). How many were abandoned."""
        abandoned = [task for task in self._in_hand if not task.done()]
        for task in abandoned:
            task.cancel()
        await asyncio.gather(*abandoned, return_exceptions=True)
        if abandoned:
            self._log.warning("messages in hand abandoned at shutdown", count=len(abandoned))
        return len(abandoned)

    async def _acknowledge(self, message: RabbitMessage) -> None:
        try:
            await message.ack()
        except Exception as error:
            # The channel went away after the commit: the broker delivers the message again and
            # the inbox drops it.
            self._log.warning("acknowledgement lost; the redelivery will be dropped", error=repr(error))

    async def _handle(self, message: RabbitMessage) -> str:
        size, limit = len(message.body), self._settings.max_message_bytes
        if size > limit:
            detail = f"body of {size} bytes, over the limit of {limit} (STOPPOC_MAX_MESSAGE_BYTES); not read"
            return await self._dead_letter(message, DeadLetterReason(MessageTooLarge.code, detail, 1))
        if unreadable := unreadable_in(message.raw_message.headers):
            detail = f"headers nested deeper than {MAX_DEPTH} levels, not read: {', '.join(unreadable)}"
            return await self._dead_letter(message, DeadLetterReason(UnreadableHeaders.code, detail, 1))
        try:
            if message.raw_message.redelivered:
                metrics.REDELIVERIES.labels(self.service).inc()
                if await self._past_redelivery_limit(message):
                    return DEAD_LETTERED
            envelope = Envelope.parse(message.body)
        except _HandBack:
            return RETURNED
        except PermanentMessageError as error:
            return await self._dead_letter(message, DeadLetterReason(error.code, str(error), 1))
        structlog.contextvars.bind_contextvars(
            message_id=envelope.id, correlation_id=envelope.correlationid, type=envelope.type
        )
        with tracing.consuming(
            self.service,
            envelope.routing_key,
            envelope.traceparent,
            envelope.tracestate,
            message_id=envelope.id,
            correlation_id=envelope.correlationid,
        ) as span:
            if trace_id := tracing.current_trace_id():
                structlog.contextvars.bind_contextvars(trace_id=trace_id)
            outcome = await self._handle_envelope(envelope, message)
            span.set_attribute("stoppoc.outcome", outcome)
        if outcome in (ACKNOWLEDGED, ANSWERED, DUPLICATE):
            sent = envelope.time if envelope.time.tzinfo else envelope.time.replace(tzinfo=UTC)
            age = max((utc_now() - sent).total_seconds(), 0.0)
            metrics.MESSAGE_AGE_SECONDS.labels(self.service, metrics.routing_key_label(envelope.routing_key)).observe(
                age
            )
        return outcome

    async def _handle_envelope(self, envelope: Envelope, message: RabbitMessage) -> str:
        try:
            check_route(envelope, message.raw_message.exchange, message.raw_message.routing_key, self._names)
            handler = self._registry.resolve(envelope)
            data = validate_data(handler.model, envelope.data)
            return await self._persist(lambda: self._run(handler, envelope, data, message))
        except _HandBack:
            return RETURNED
        except _GiveUp as gave_up:
            return await self._dead_letter(message, gave_up.reason)
        except PermanentMessageError as error:
            return await self._dead_letter(message, DeadLetterReason(error.code, str(error), 1))

    async def _persist(self, attempt_once: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt_once`` until it succeeds. A failure while the database does not answer
        costs no attempt: the message waits for it (``_HandBack`` past the hold). Other failures
        are retried with backoff up to ``max_attempts`` (then ``_GiveUp``); a permanent error
        is raised at once."""
        attempts, held_since = 0, None
        while True:
            try:
                return await attempt_once()
            except PermanentMessageError:
                raise
            except Exception as error:
                if await self._watch.confirm_outage():
                    held_since = held_since or time.monotonic()
                    await self._wait_out_outage(held_since)
                    continue
                attempts += 1
                transient = is_transient(error)
                if attempts >= self._max_attempts:
                    code = "retries_exhausted" if transient else "handler_error"
                    self._log.exception("giving up on message", attempts=attempts)
                    raise _GiveUp(DeadLetterReason(code, repr(error), attempts)) from error
                metrics.HANDLER_RETRIES.labels(self.service).inc()
                self._log.warning("attempt failed", attempt=attempts, transient=transient, error=repr(error))
                await backoff(attempts, self._retry_base)

    async def _wait_out_outage(self, held_since: float) -> None:
        hold = self._settings.outage_hold_seconds
        self._log.info("message held until the database is back")
        if not await self._watch.wait_until_up(hold - (time.monotonic() - held_since)):
            self._log.warning("database still away: message handed back to its queue", held_seconds=hold)
            raise _HandBack()

    async def _past_redelivery_limit(self, message: RabbitMessage) -> bool:
        """Count this redelivery; past the limit, dead-letter the message unless it was handled
        already (then it goes on, and the inbox drops it). True if it was dead-lettered."""
        key = delivery_key(message)
        try:
            counted = await self._persist(lambda: self._count_redelivery(key, message.raw_message.message_id or ""))
        except _GiveUp:
            return False  # the database keeps failing: handling will retry it, then dead-letter it
        deliveries = max(counted.deliveries, broker_deliveries(message))
        self._log.warning("message redelivered", counted_as=key, deliveries=deliveries, handled=counted.handled)
        if counted.handled or deliveries <= self._max_deliveries:
            return False
        detail = (
            f"delivered {deliveries} times without being acknowledged (STOPPOC_MAX_DELIVERIES="
            f"{self._max_deliveries}): its handling may be what stops the service"
        )
        await self._dead_letter(message, DeadLetterReason(REDELIVERY_LIMIT, detail, deliveries))
        return True

    async def _count_redelivery(self, key: str, message_id: str) -> Redelivery:
        counted: Redelivery = await MESSAGING.bind(self._pool).count_redelivery(delivery_key=key, message_id=message_id)
        return counted

    async def _run(self, handler: Handler, envelope: Envelope, data: BaseModel, message: RabbitMessage) -> str:
        if handler.query:
            await self._answer(handler, envelope, data, message)
            return ANSWERED
        async with self._pool.acquire() as conn, conn.transaction():
            if await MESSAGING.bind(conn).claim_inbox(message_id=envelope.id, type=envelope.type) is None:
                self._log.info("duplicate message ignored")
                return DUPLICATE
            uow = UnitOfWork(conn, self._queries.bind(conn), self.source, self._settings, cause=envelope)
            await handler.fn(data, uow)
            await uow.flush()
        if uow.emitted:
            self._relay.wake()
        self._log.info("message handled", emitted=[e.type for e in uow.emitted])
        return ACKNOWLEDGED

    async def _answer(self, handler: Handler, envelope: Envelope, data: BaseModel, message: RabbitMessage) -> None:
        raw = message.raw_message
        if not raw.reply_to:
            raise InvalidData(f"{envelope.type} is a request: it needs reply_to")
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            uow = UnitOfWork(conn, self._queries.bind(conn), self.source, self._settings, cause=envelope)
            result: Reply | Forward = await handler.fn(data, uow)
            await uow.flush()  # a query emits nothing: an emit here fails in the read-only transaction
        answer = envelope_for(result.message, source=self.source, cause=envelope)
        if isinstance(result, Forward):
            exchange, routing_key, reply_to = self._commands, answer.routing_key, raw.reply_to
        else:  # a Reply goes straight back through the default exchange
            exchange, routing_key, reply_to = None, raw.reply_to, None
        await self._broker.publish(
            answer.to_json(),
            exchange=exchange,
            routing_key=routing_key,
            reply_to=reply_to,
            correlation_id=raw.correlation_id,
            content_type=CONTENT_TYPE,
            message_id=answer.id,
            mandatory=False,
        )
        self._log.info("request answered", answer=answer.type, forwarded=isinstance(result, Forward))

    async def _dead_letter(self, message: RabbitMessage, reason: DeadLetterReason) -> str:
        """Publish the message to the dead-letter queue with why; it is acknowledged after."""
        raw = message.raw_message
        # Copied as pamqp can encode them again; a header too deep to read went in as its description.
        headers = publishable(
            {**(raw.headers or {}), **dead_letter_headers(self.service, reason, raw.exchange, raw.routing_key)}
        )
        self._log.error("message dead-lettered", error=reason.error, detail=reason.detail)
        await self._broker.publish(
            message.body,
            exchange=self._dead_letters,
            routing_key=self._names.queue(self.service),
            headers=headers,
            persist=True,
            mandatory=False,
            content_type=raw.content_type,
            message_id=raw.message_id,
        )
        metrics.DEAD_LETTERS.labels(self.service, reason.error).inc()
        return DEAD_LETTERED
