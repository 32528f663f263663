"""The portal's client: sends the contract's commands and awaits what answers them.

One connection, one channel with publisher confirms, and one exclusive queue of the client's own
that takes the replies to its quotes and is bound, on first need, only to the final events of
what it awaits (a conversion's four, a renewal's three). An event nobody awaits is dropped as it
arrives: nothing is kept in memory beyond the waits in progress.
"""

import asyncio
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue
from aiormq.exceptions import ChannelNotFoundEntity, DeliveryError

from stoppoc.client import amqp_tables
from stoppoc.client.connecting import CANNOT_CONNECT, broker_unreachable
from stoppoc.client.errors import NotRouted, OutcomeTimeout, QuoteRefused
from stoppoc.client.outcomes import CONVERSION, RENEWAL, Awaited, Outcome
from stoppoc.contract import validate_data
from stoppoc.contract.base import Message
from stoppoc.contract.commands import (
    ContactUpsert,
    CouponUpsert,
    RenewalRequest,
    StopPocQuote,
    StopPocRequest,
    WalletCredit,
)
from stoppoc.contract.envelope import CONTENT_TYPE, Envelope, new_envelope, type_for
from stoppoc.contract.errors import InvalidData, ServiceUnavailable, StopPocError
from stoppoc.contract.replies import QuoteRejected, StopPocQuoted

try:  # optional: the client needs only pydantic and aio-pika
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # pragma: no cover - exercised where opentelemetry is not installed
    TraceContextTextMapPropagator = None  # type: ignore[assignment,misc]

ROUTING_KEYS: dict[type[Message], str] = {
    StopPocQuote: "inventory.stop_poc.quote",
    StopPocRequest: "inventory.stop_poc.request",
    RenewalRequest: "inventory.renewal.request",
    WalletCredit: "payment.wallet.credit",
    ContactUpsert: "notifier.contact.upsert",
    CouponUpsert: "checkout.coupon.upsert",
}


def current_trace_context() -> dict[str, str]:
    """The W3C trace context (``traceparent``, ``tracestate``) of the caller's current
    OpenTelemetry span; empty when OpenTelemetry is not installed or no span is current."""
    carrier: dict[str, str] = {}
    if TraceContextTextMapPropagator is not None:
        TraceContextTextMapPropagator().inject(carrier)
    return carrier


def new_request_id() -> str:
    """A fresh request id. Keep it: sending the same request again with it is the same request."""
    return str(uuid.uuid4())


class StopPocClient:
    """``async with StopPocClient(amqp_url, namespace) as client: ...``

    Every command carries the trace context of the portal's request, so that what it causes is
    one trace starting there: the ``traceparent`` (and ``tracestate``) given to the send method,
    else that of the current OpenTelemetry span when OpenTelemetry is installed, else none.
    """

    def __init__(self, amqp_url: str, namespace: str = "stoppoc", *, source: str = "/stoppoc/portal") -> None:
        self.amqp_url = amqp_url
        self.namespace = namespace
        self.source = source
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._bound: set[str] = set()
        self._replies: dict[str, asyncio.Future[Envelope]] = {}
        self._waits: dict[tuple[str, str], asyncio.Future[Outcome]] = {}

    async def __aenter__(self) -> "StopPocClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        # Anyone who can publish to the reply queue could otherwise close the connection with one
        # header nested too deep for pamqp's recursion: such a table is read as its description.
        amqp_tables.install()
        try:
            self._connection = await aio_pika.connect_robust(self.amqp_url)
        except CANNOT_CONNECT as error:
            raise broker_unreachable(self.amqp_url, error) from error
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        for exchange in (self._exchange("commands"), self._exchange("events")):
            try:
                await self._channel.get_exchange(exchange, ensure=True)
            except ChannelNotFoundEntity as error:
                await self.close()
                raise ServiceUnavailable(
                    f"there is no exchange {exchange} at the broker: is the namespace right, and stoppoc set up"
                    " (stoppoc migrate)?"
                ) from error
        # Named in the namespace like every queue of the environment (broker permissions may
        # require it); re-declared under the same name if the connection is restored.
        reply_queue = f"{self.namespace}.client.{uuid.uuid4().hex}"
        self._queue = await self._channel.declare_queue(reply_queue, exclusive=True, auto_delete=True)
        await self._queue.consume(self._on_message, no_ack=True)

    async def close(self) -> None:
        if self._connection:
            await self._connection.close()
            self._connection = None
        for reply in self._replies.values():
            reply.cancel()
        for wait in self._waits.values():
            wait.cancel()

    # Requests that answer at once.

    async def quote(
        self,
        quote: StopPocQuote,
        *,
        timeout: float = 30.0,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> StopPocQuoted:
        """The price the portal shows before the user pays (changes nothing). Raises
        ``QuoteRefused`` with the reason when the cluster cannot be priced."""
        envelope = self._envelope(quote, trace=(traceparent, tracestate))
        answer = asyncio.get_running_loop().create_future()
        self._replies[envelope.id] = answer
        try:
            await self._publish(envelope, reply_to=self._reply_queue.name, correlation_id=envelope.id)
            reply = await self._await(answer, timeout, f"no answer to the quote of {quote.cluster_id}")
        finally:
            self._replies.pop(envelope.id, None)
        if reply.type == type_for("stop_poc.quote_rejected"):
            rejected = validate_data(QuoteRejected, reply.data)
            raise QuoteRefused(rejected.reason, rejected.detail)
        return validate_data(StopPocQuoted, reply.data)

    # Commands whose end is an event.

    async def request_stop(
        self, request: StopPocRequest, *, traceparent: str | None = None, tracestate: str | None = None
    ) -> Envelope:
        """Press Stop POC and return at once, with the envelope sent (its broker confirmed it)."""
        envelope = self._envelope(request, correlationid=request.request_id, trace=(traceparent, tracestate))
        return await self._publish(envelope)

    async def stop_poc(
        self,
        request: StopPocRequest,
        *,
        timeout: float = 120.0,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> Outcome:
        """Press Stop POC and await the conversion's final event: ``cluster.poc_stopped`` or
        ``stop_poc.completed`` (``outcome.succeeded``), ``stop_poc.failed`` or ``stop_poc.rejected``.
        Raises ``OutcomeTimeout`` when none comes in ``timeout`` seconds."""
        return await self._send_and_await(request, CONVERSION, request.request_id, timeout, (traceparent, tracestate))

    async def request_renewal(
        self, request: RenewalRequest, *, traceparent: str | None = None, tracestate: str | None = None
    ) -> Envelope:
        envelope = self._envelope(request, correlationid=request.request_id, trace=(traceparent, tracestate))
        return await self._publish(envelope)

    async def renew(
        self,
        request: RenewalRequest,
        *,
        timeout: float = 120.0,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> Outcome:
        """Renew real resources by hand and await ``resources.renewed``, ``renewal.failed`` or
        ``renewal.rejected`` (their renewal_id is the request id)."""
        return await self._send_and_await(request, RENEWAL, request.request_id, timeout, (traceparent, tracestate))

    async def credit_wallet(
        self, credit: WalletCredit, *, traceparent: str | None = None, tracestate: str | None = None
    ) -> Envelope:
        """Money arrived in the customer's credit wallet; the same reference credits once."""
        return await self._publish(self._envelope(credit, trace=(traceparent, tracestate)))

    async def upsert_contact(
        self, contact: ContactUpsert, *, traceparent: str | None = None, tracestate: str | None = None
    ) -> Envelope:
        return await self._publish(self._envelope(contact, trace=(traceparent, tracestate)))

    async def upsert_coupon(
        self, coupon: CouponUpsert, *, traceparent: str | None = None, tracestate: str | None = None
    ) -> Envelope:
        return await self._publish(self._envelope(coupon, trace=(traceparent, tracestate)))

    # The plumbing.

    @property
    def _reply_queue(self) -> AbstractQueue:
        if self._queue is None:
            raise StopPocError("the client is not connected: use `async with StopPocClient(...)`")
        return self._queue

    def _exchange(self, kind: str) -> str:
        return f"{self.namespace}.{kind}"

    def _envelope(
        self, command: Message, correlationid: str | None = None, trace: tuple[str | None, str | None] = (None, None)
    ) -> Envelope:
        """``trace``: the caller's ``traceparent`` and ``tracestate``; without a traceparent, the
        current span's."""
        traceparent, tracestate = trace
        if traceparent is None:
            context = current_trace_context()
            traceparent, tracestate = context.get("traceparent"), context.get("tracestate")
        data = command.model_dump(mode="json")
        return new_envelope(
            ROUTING_KEYS[type(command)],
            data,
            source=self.source,
            subject=data.get("cluster_id"),
            correlationid=correlationid,
            traceparent=traceparent,
            tracestate=tracestate or None,
        )

    async def _publish(self, envelope: Envelope, **properties: Any) -> Envelope:
        if self._channel is None:
            raise StopPocError("the client is not connected: use `async with StopPocClient(...)`")
        exchange = await self._channel.get_exchange(self._exchange("commands"), ensure=False)
        message = aio_pika.Message(
            envelope.to_json(),
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=envelope.id,
            **properties,
        )
        try:
            await exchange.publish(message, routing_key=envelope.routing_key, mandatory=True)
        except DeliveryError as error:
            raise NotRouted(
                f"no queue takes {envelope.routing_key} on {exchange.name}: is stoppoc set up in namespace"
                f" {self.namespace!r} (stoppoc migrate)? ({error})"
            ) from error
        return envelope

    async def _send_and_await(
        self,
        command: Message,
        awaited: Awaited,
        key: str,
        timeout: float,
        trace: tuple[str | None, str | None],
    ) -> Outcome:
        await self._bind(awaited)
        wait = asyncio.get_running_loop().create_future()
        self._waits[(awaited.id_field, key)] = wait
        try:
            await self._publish(self._envelope(command, correlationid=key, trace=trace))
            outcome: Outcome = await self._await(wait, timeout, f"{key} did not end")
            return outcome
        finally:
            self._waits.pop((awaited.id_field, key), None)

    async def _bind(self, awaited: Awaited) -> None:
        """Bind the client's queue to these final events, before the command that causes them."""
        if self._channel is None:
            raise StopPocError("the client is not connected: use `async with StopPocClient(...)`")
        events = await self._channel.get_exchange(self._exchange("events"), ensure=False)
        for routing_key in awaited.events.keys() - self._bound:
            await self._reply_queue.bind(events, routing_key=routing_key)
            self._bound.add(routing_key)

    async def _await(self, future: "asyncio.Future[Any]", timeout: float, what: str) -> Any:
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise OutcomeTimeout(f"{what} within {timeout:g}s") from None

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        reply = self._replies.get(message.correlation_id or "")
        if reply is None and not self._waits:
            return  # an event nobody awaits any more
        try:
            envelope = Envelope.parse(message.body)
        except Exception:
            return  # whatever bytes someone put on the exchange: none of ours
        if reply is not None:
            if not reply.done():
                reply.set_result(envelope)
            return
        for awaited in (CONVERSION, RENEWAL):
            model = awaited.events.get(envelope.routing_key)
            wait = self._waits.get((awaited.id_field, str(envelope.data.get(awaited.id_field))))
            if model is not None and wait is not None and not wait.done():
                try:
                    wait.set_result(Outcome(envelope.routing_key, validate_data(model, envelope.data), envelope))
                except InvalidData as error:
                    wait.set_exception(error)  # the caller hears of it rather than timing out
