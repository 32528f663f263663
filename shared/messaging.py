"""The queries of the inbox, the outbox and the redelivery counts (``messaging.sql``), which
every service runs on its own schema, and the rows they return."""

from dataclasses import dataclass
from datetime import datetime

from stoppoc.shared import queries


@dataclass(frozen=True)
class OutboxRow:
    id: int
    message_id: str
    exchange: str
    routing_key: str
    body: bytes


@dataclass(frozen=True)
class Redelivery:
    deliveries: int
    handled: bool  # the message's id is in the inbox: its effects are committed


@dataclass(frozen=True)
class OutboxBacklog:
    unpublished: int
    oldest: datetime | None


QUERIES = queries.load(
    "stoppoc.shared",
    "messaging.sql",
    rows={"OutboxRow": OutboxRow, "Redelivery": Redelivery, "OutboxBacklog": OutboxBacklog},
)
