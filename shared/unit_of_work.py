"""The unit of work a handler runs in: one PostgreSQL transaction holding the state change,
the inbox row of the message being handled and the outbox rows of what it emits."""

from dataclasses import dataclass, field

import asyncpg
from pydantic import BaseModel

from shared.contract import COMMANDS, EVENTS, REPLIES
from shared.envelope import Envelope, new_envelope
from shared.settings import Settings

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
) -> Envelope:
    """Wrap ``message`` in an envelope that carries the conversion's correlation id
    (its request id) and the id of the message that caused it."""
    data = message.model_dump(mode="json")
    correlationid = data.get("request_id") or (cause.correlationid if cause else None)
    return new_envelope(
        routing_key_of(message),
        data,
        source=source,
        subject=data.get("cluster_id") or (cause.subject if cause else None),
        correlationid=correlationid,
        causationid=cause.id if cause else None,
        message_id=message_id,
    )


@dataclass
class UnitOfWork:
    conn: asyncpg.Connection
    queries: dict[str, str]
    source: str
    settings: Settings
    cause: Envelope | None = None
    emitted: list[Envelope] = field(default_factory=list)

    async def fetch(self, name: str, *args) -> list[asyncpg.Record]:
        return await self.conn.fetch(self.queries[name], *args)

    async def fetchrow(self, name: str, *args) -> asyncpg.Record | None:
        return await self.conn.fetchrow(self.queries[name], *args)

    async def fetchval(self, name: str, *args):
        return await self.conn.fetchval(self.queries[name], *args)

    async def execute(self, name: str, *args) -> str:
        return await self.conn.execute(self.queries[name], *args)

    async def emit(self, message: BaseModel, *, message_id: str | None = None) -> Envelope:
        """Record ``message`` in the outbox; it is published once the transaction commits.

        A deterministic ``message_id`` makes a re-run emit the same message only once.
        """
        envelope = envelope_for(message, source=self.source, cause=self.cause, message_id=message_id)
        exchange = "commands" if type(message) in _COMMAND_MODELS else "events"
        inserted = await self.conn.fetchval(
            "INSERT INTO outbox (message_id, exchange, routing_key, body) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (message_id) DO NOTHING RETURNING id",
            envelope.id,
            exchange,
            envelope.routing_key,
            envelope.to_json(),
        )
        if inserted is not None:
            self.emitted.append(envelope)
        return envelope
