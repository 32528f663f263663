"""The unit of work a handler runs in: one PostgreSQL transaction holding the state change,
the inbox row of the message being handled and the outbox rows of what it emits."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel

from stoppoc.contract import COMMANDS, EVENTS, REPLIES
from stoppoc.contract.envelope import Envelope, new_envelope
from stoppoc.shared.messaging import QUERIES as MESSAGING
from stoppoc.shared.queries import BoundQueries, Connection
from stoppoc.shared.settings import Settings
from stoppoc.shared.tracing import trace_context

_ROUTING_KEYS = {model: key for key, model in {**EVENTS, **COMMANDS, **REPLIES}.items()}
_COMMAND_MODELS = set(COMMANDS.values())


def routing_key_of(message: BaseModel) -> str:
    return _ROUTING_KEYS[type(message)]


def envelope_for(
    message: BaseModel,
    *,
    source: str,
    cause: Envelope | None = None,
    message_id: str | None = None,
    trace: Mapping[str, str] | None = None,
) -> Envelope:
    """Wrap ``message`` in an envelope that carries the conversion's correlation id
    (its request id), the id of the message that caused it and the trace context: ``trace`` when
    given, else the current span's, else the cause's, so a trace is not cut where tracing is off."""
    data = message.model_dump(mode="json")
    correlationid = data.get("request_id") or (cause.correlationid if cause else None)
    context = trace or current_trace_context(cause)
    return new_envelope(
        routing_key_of(message),
        data,
        source=source,
        subject=data.get("cluster_id") or (cause.subject if cause else None),
        correlationid=correlationid,
        causationid=cause.id if cause else None,
        message_id=message_id,
        traceparent=context.get("traceparent"),
        tracestate=context.get("tracestate") or None,
    )


def current_trace_context(cause: Envelope | None) -> dict[str, str]:
    """The current span's trace context, else the one ``cause`` came with; empty if neither."""
    if context := trace_context():
        return context
    if cause is not None and cause.traceparent:
        return {"traceparent": cause.traceparent, "tracestate": cause.tracestate or ""}
    return {}


@dataclass(frozen=True)
class _Pending:
    envelope: Envelope
    exchange: str


@dataclass
class UnitOfWork:
    """``q``: the service's own queries (its ``queries.sql``), on this transaction's connection.

    What a handler emits is written to the outbox by ``flush``, all in one statement, before the
    transaction commits (the consumer and the periodic runner flush; so must anyone else who
    commits a unit of work). ``emitted``: what the flush recorded."""

    conn: Connection
    q: BoundQueries
    source: str
    settings: Settings
    cause: Envelope | None = None
    emitted: list[Envelope] = field(default_factory=list)
    _pending: dict[str, _Pending] = field(default_factory=dict, init=False, repr=False)

    async def emit(
        self, message: BaseModel, *, message_id: str | None = None, trace: Mapping[str, str] | None = None
    ) -> Envelope:
        """Record ``message`` in the outbox (at the flush); it is published once the transaction commits.

        A deterministic ``message_id`` makes a re-run emit the same message only once. ``trace``
        (``traceparent``, ``tracestate``): the trace the message belongs to when it is not the
        current one (a payment decided by a top-up or a sweep stays in its order's trace).
        """
        envelope = envelope_for(message, source=self.source, cause=self.cause, message_id=message_id, trace=trace)
        exchange = "commands" if type(message) in _COMMAND_MODELS else "events"
        self._pending.setdefault(envelope.id, _Pending(envelope, exchange))
        return envelope

    @property
    def envelopes(self) -> list[Envelope]:
        """Everything emitted so far, flushed or not, in the order emitted."""
        return [*self.emitted, *(pending.envelope for pending in self._pending.values())]

    def trace_context(self) -> dict[str, str]:
        """The trace context an emit would carry now, to keep for a later emit in the same trace."""
        return current_trace_context(self.cause)

    async def flush(self) -> list[Envelope]:
        """Write what was emitted since the last flush to the outbox, in the order emitted; what was
        recorded (not a message whose deterministic id was recorded before) joins ``emitted``."""
        if not self._pending:
            return []
        pending, self._pending = list(self._pending.values()), {}
        recorded: list[str] = await MESSAGING.bind(self.conn).insert_outbox_rows(
            message_ids=[p.envelope.id for p in pending],
            exchanges=[p.exchange for p in pending],
            routing_keys=[p.envelope.routing_key for p in pending],
            bodies=[p.envelope.to_json() for p in pending],
            traceparents=[p.envelope.traceparent for p in pending],
            correlation_ids=[p.envelope.correlationid for p in pending],
        )
        recorded_ids = set(recorded)
        flushed = [p.envelope for p in pending if p.envelope.id in recorded_ids]
        self.emitted.extend(flushed)
        return flushed
