"""How a service takes a message off its queue.

Parse the envelope, find the handler, validate the data, then run the handler in one
transaction together with the inbox row of the message and the outbox rows it emits.
The message is acknowledged only after that transaction commits. A transient failure is
retried with bounded backoff; a permanent one, or the last failed attempt, sends the message
to the queue's dead-letter queue with headers saying why, and the consumer goes on.

A message the broker delivers again (a crash or a lost connection left it unacknowledged) is
counted in ``redeliveries`` before anything else happens to it; past ``max_deliveries`` it is
dead-lettered with ``redelivery_limit``, so one whose handling kills the process cannot loop
forever, whatever the broker's own delivery-limit semantics.
"""

import asyncio
import contextlib
import hashlib
from typing import Any

import asyncpg
import structlog
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange
from faststream.rabbit.message import RabbitMessage
from pydantic import BaseModel

from stoppoc.contract import validate_data
from stoppoc.contract.envelope import CONTENT_TYPE, Envelope
from stoppoc.contract.errors import InvalidData, PermanentMessageError
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
        self._max_attempts = settings.max_attempts
        self._max_deliveries = settings.max_deliveries
        self._retry_base = settings.retry_base_seconds
        self._dlx = RabbitExchange(names.dlx, declare=False)
        self._commands = RabbitExchange(names.commands, type=ExchangeType.TOPIC, durable=True, declare=False)
        self._log = get_logger(service=service)
        self._in_hand: set[asyncio.Task[Any]] = set()

    async def on_message(self, message: RabbitMessage) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(service=self.service, delivery_tag=message.raw_message.delivery_tag)
        task = asyncio.current_task()
        assert task is not None  # FastStream runs each message in a task of its own
        self._in_hand.add(task)
        try:
            await self._handle(message)
        except Exception:
            # Not even the dead-letter queue took it (the broker is likely away): hand the
            # message back so it is delivered again rather than lost.
            self._log.exception("message returned to its queue")
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
        else:
            await self._acknowledge(message)
        finally:
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

    async def _handle(self, message: RabbitMessage) -> None:
        if message.raw_message.redelivered and await self._past_redelivery_limit(message):
            return
        try:
            envelope = Envelope.parse(message.body)
            structlog.contextvars.bind_contextvars(
                message_id=envelope.id, correlation_id=envelope.correlationid, type=envelope.type
            )
            check_route(envelope, message.raw_message.exchange, message.raw_message.routing_key, self._names)
            handler = self._registry.resolve(envelope)
            data = validate_data(handler.model, envelope.data)
        except PermanentMessageError as error:
            await self._dead_letter(message, DeadLetterReason(error.code, str(error), 1))
            return

        for attempt in range(1, self._max_attempts + 1):
            try:
                await self._run(handler, envelope, data, message)
                return
            except PermanentMessageError as error:
                await self._dead_letter(message, DeadLetterReason(error.code, str(error), attempt))
                return
            except Exception as error:
                transient = is_transient(error)
                if attempt == self._max_attempts:
                    code = "retries_exhausted" if transient else "handler_error"
                    self._log.exception("giving up on message", attempts=attempt)
                    await self._dead_letter(message, DeadLetterReason(code, repr(error), attempt))
                    return
                self._log.warning("attempt failed", attempt=attempt, transient=transient, error=repr(error))
                await backoff(attempt, self._retry_base)

    async def _past_redelivery_limit(self, message: RabbitMessage) -> bool:
        """Count this redelivery; past the limit, dead-letter the message unless it was handled
        already (then it goes on, and the inbox drops it). True if it was dead-lettered."""
        key = delivery_key(message)
        counted = await self._count_redelivery(key, message.raw_message.message_id or "")
        if counted is None:
            return False  # the database is away: handling will retry it, then dead-letter it
        deliveries = counted.deliveries
        self._log.warning("message redelivered", counted_as=key, deliveries=deliveries, handled=counted.handled)
        if counted.handled or deliveries <= self._max_deliveries:
            return False
        detail = (
            f"delivered {deliveries} times without being acknowledged (STOPPOC_MAX_DELIVERIES="
            f"{self._max_deliveries}): its handling may be what stops the service"
        )
        await self._dead_letter(message, DeadLetterReason(REDELIVERY_LIMIT, detail, deliveries))
        return True

    async def _count_redelivery(self, key: str, message_id: str) -> Redelivery | None:
        for attempt in range(1, self._max_attempts + 1):
            try:
                counted: Redelivery = await MESSAGING.bind(self._pool).count_redelivery(
                    delivery_key=key, message_id=message_id
                )
                return counted
            except Exception as error:
                if not is_transient(error) or attempt == self._max_attempts:
                    self._log.warning("redelivery not counted", error=repr(error))
                    return None
                await backoff(attempt, self._retry_base)
        return None

    async def _run(self, handler: Handler, envelope: Envelope, data: BaseModel, message: RabbitMessage) -> None:
        if handler.query:
            await self._answer(handler, envelope, data, message)
            return
        async with self._pool.acquire() as conn, conn.transaction():
            if await MESSAGING.bind(conn).claim_inbox(message_id=envelope.id, type=envelope.type) is None:
                self._log.info("duplicate message ignored")
                return
            uow = UnitOfWork(conn, self._queries.bind(conn), self.source, self._settings, cause=envelope)
            await handler.fn(data, uow)
        if uow.emitted:
            self._relay.wake()
        self._log.info("message handled", emitted=[e.type for e in uow.emitted])

    async def _answer(self, handler: Handler, envelope: Envelope, data: BaseModel, message: RabbitMessage) -> None:
        raw = message.raw_message
        if not raw.reply_to:
            raise InvalidData(f"{envelope.type} is a request: it needs reply_to")
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            uow = UnitOfWork(conn, self._queries.bind(conn), self.source, self._settings, cause=envelope)
            result: Reply | Forward = await handler.fn(data, uow)
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

    async def _dead_letter(self, message: RabbitMessage, reason: DeadLetterReason) -> None:
        raw = message.raw_message
        headers = {**(raw.headers or {}), **dead_letter_headers(self.service, reason, raw.exchange, raw.routing_key)}
        self._log.error("message dead-lettered", error=reason.error, detail=reason.detail)
        await self._broker.publish(
            message.body,
            exchange=self._dlx,
            routing_key=self._names.queue(self.service),
            headers=headers,
            persist=True,
            mandatory=False,
            content_type=raw.content_type,
            message_id=raw.message_id,
        )
