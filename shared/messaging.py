"""The queries of the inbox, the outbox and the redelivery counts (``messaging.sql``), which
every service runs on its own schema, and the rows they return."""

from dataclasses import dataclass

from stoppoc.shared import queries


@dataclass(frozen=True)
class OutboxRow:
    id: int
    message_id: str
    exchange: str
    routing_key: str
    body: bytes
    traceparent: str | None
    correlation_id: str | None


@dataclass(frozen=True)
class OutboxBacklog:
    pending: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class AppliedMigration:
    name: str


@dataclass(frozen=True)
class Redelivery:
    deliveries: int
    handled: bool  # the message's id is in the inbox: its effects are committed


QUERIES = queries.load(
    "stoppoc.shared",
    "messaging.sql",
    rows={
        "AppliedMigration": AppliedMigration,
        "OutboxRow": OutboxRow,
        "OutboxBacklog": OutboxBacklog,
        "Redelivery": Redelivery,
    },
)
