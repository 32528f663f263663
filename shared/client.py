"""A watcher of the whole contract: sends commands to ``NS.commands`` and keeps every event on
``NS.events`` in memory, with the final event of each conversion.

A test harness (the tests drive the services only through it) and the eyes of ``stoppoc demo``;
portal backends use ``stoppoc.client`` instead.
"""

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from stoppoc.contract.envelope import CONTENT_TYPE, Envelope, new_envelope
from stoppoc.contract.errors import InvalidEnvelope, unreachable
from stoppoc.shared import topology, tracing
from stoppoc.shared.topology import Names, Topology

Predicate = Callable[[dict[str, Any]], bool]
FINAL_EVENTS = ("cluster.poc_stopped", "stop_poc.completed", "stop_poc.failed", "stop_poc.rejected")


class ContractClient:
    def __init__(
        self,
        amqp_url: str,
        names: Names,
        source: str = "/stoppoc/client",
        declare: Topology | None = None,
        queues: topology.QueueOptions | None = None,
    ) -> None:
        """``declare``: the service queues to declare on connecting (as ``queues`` says), so that
        commands sent before a service starts wait in its queue."""
        self.amqp_url = amqp_url
        self.names = names
        self.source = source
        self._declare = declare
        self._queues = queues
        self.events: list[Envelope] = []
        # How many copies of each event id arrived: more than one only where a publisher crashed
        # between the broker's confirm and recording it (at-least-once publishing).
        self.copies: Counter[str] = Counter()
        # The final events seen, by request id (the first copy of each).
        self.outcomes: dict[str, list[Envelope]] = {}
        self._arrived = asyncio.Condition()
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._listeners: list[Callable[[Envelope], None]] = []
        self._pending: dict[str, asyncio.Future[Envelope]] = {}

    @property
    def channel(self) -> AbstractChannel:
        if self._channel is None:
            raise RuntimeError("the client is not connected")
        return self._channel

    async def __aenter__(self) -> "ContractClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        try:
            self._connection = await aio_pika.connect_robust(self.amqp_url)
        except OSError as error:
            raise unreachable("RabbitMQ", self.amqp_url, error) from error
        self._channel = await self._connection.channel(publisher_confirms=True)
        await topology.declare(self._channel, self.names, self._declare or {}, self._queues)
        events = await self._channel.get_exchange(self.names.events)
        queue = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(events, routing_key="#")
        await queue.consume(self._on_event, no_ack=True)
        self._replies = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        await self._replies.consume(self._on_reply, no_ack=True)

    async def close(self) -> None:
        if self._connection:
            await self._connection.close()
            self._connection = None

    def on_event(self, listener: Callable[[Envelope], None]) -> None:
        self._listeners.append(listener)

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = Envelope.parse(message.body)
        except InvalidEnvelope:
            return  # someone else's poison on the events exchange
        async with self._arrived:
            self.events.append(envelope)
            self.copies[envelope.id] += 1
            if envelope.routing_key in FINAL_EVENTS and self.copies[envelope.id] == 1:
                self.outcomes.setdefault(str(envelope.data.get("request_id")), []).append(envelope)
            self._arrived.notify_all()
        for listener in self._listeners:
            listener(envelope)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        waiting = self._pending.pop(message.correlation_id or "", None)
        if waiting and not waiting.done():
            waiting.set_result(Envelope.parse(message.body))

    async def request(self, routing_key: str, data: dict[str, Any], *, timeout: float = 30.0) -> Envelope:
        """Send a request (``reply_to`` + ``correlation_id``) and wait for its reply."""
        envelope = new_envelope(routing_key, data, source=self.source, subject=data.get("cluster_id"))
        reply = asyncio.get_running_loop().create_future()
        self._pending[envelope.id] = reply
        try:
            await self.publish(
                self.names.commands,
                routing_key,
                envelope.to_json(),
                message_id=envelope.id,
                reply_to=self._replies.name,
                correlation_id=envelope.id,
            )
            return await asyncio.wait_for(reply, timeout)
        finally:
            self._pending.pop(envelope.id, None)

    async def send(self, routing_key: str, data: dict[str, Any], *, message_id: str | None = None) -> Envelope:
        """Send a command; its correlation id is the stop request id where there is one, and it
        carries the caller's trace context (the current OpenTelemetry span), if any."""
        context = tracing.trace_context()
        envelope = new_envelope(
            routing_key,
            data,
            source=self.source,
            subject=data.get("cluster_id"),
            correlationid=data.get("request_id"),
            message_id=message_id,
            traceparent=context.get("traceparent"),
            tracestate=context.get("tracestate"),
        )
        await self.publish(self.names.commands, routing_key, envelope.to_json(), message_id=envelope.id)
        return envelope

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str | None = None,
        headers: dict[str, Any] | None = None,
        reply_to: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        target = await self.channel.get_exchange(exchange)
        await target.publish(
            aio_pika.Message(
                body,
                content_type=CONTENT_TYPE,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message_id,
                headers=headers or {},
                reply_to=reply_to,
                correlation_id=correlation_id,
            ),
            routing_key=routing_key,
        )

    def seen(self, routing_key: str, where: Predicate | None = None) -> list[Envelope]:
        return [e for e in self.events if e.routing_key == routing_key and (where is None or where(e.data))]

    async def wait_for(self, routing_key: str, where: Predicate | None = None, *, timeout: float = 30.0) -> Envelope:
        """The first event with this routing key whose data matches ``where``."""
        return await self._wait(
            lambda e: e.routing_key == routing_key and (where is None or where(e.data)),
            timeout,
            f"no {routing_key} event",
        )

    async def wait_for_outcome(self, request_id: str, *, timeout: float = 60.0) -> Envelope:
        """The final event of a conversion: poc_stopped, failed or rejected."""
        return await self._wait(
            lambda e: e.routing_key in FINAL_EVENTS and e.data.get("request_id") == request_id,
            timeout,
            f"conversion {request_id} did not end",
        )

    def duplicates(self) -> dict[str, int]:
        """Event ids that arrived more than once, with their number of copies."""
        return {event_id: n for event_id, n in self.copies.items() if n > 1}

    async def wait_for_outcomes(self, request_ids: Iterable[str], *, timeout: float = 120.0) -> dict[str, Envelope]:
        """The final event of each of these conversions (for batches: cheaper than one
        ``wait_for_outcome`` each). Raises TimeoutError naming those that did not end."""
        wanted = set(request_ids)
        deadline = time.monotonic() + timeout
        async with self._arrived:
            while missing := wanted - self.outcomes.keys():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{len(missing)} conversions did not end within {timeout}s: {sorted(missing)[:5]}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), remaining)
        return {request_id: self.outcomes[request_id][0] for request_id in wanted}

    async def _wait(self, matches: Callable[[Envelope], bool], timeout: float, what: str) -> Envelope:
        deadline = time.monotonic() + timeout
        async with self._arrived:
            while not (found := [e for e in self.events if matches(e)]):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{what} within {timeout}s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), remaining)
        return found[0]
