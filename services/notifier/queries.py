"""Notifier's queries (``queries.sql``) and the rows they return."""

import sys
from dataclasses import dataclass
from datetime import datetime

from stoppoc.shared import queries


@dataclass(frozen=True)
class Contact:
    customer_id: str
    email: str | None
    language: str
    timezone: str
    webhook_url: str | None
    webhook_secret: str | None


@dataclass(frozen=True)
class TopicDelivery:
    notification_id: int
    channel: str
    status: str


@dataclass(frozen=True)
class Unrendered:
    notification_id: int
    customer_id: str
    kind: str
    request_id: str | None
    event: str
    waited: bool
    language: str
    timezone: str


@dataclass(frozen=True)
class PaymentEvent:
    kind: str  # payment_settled or payment_failed
    event: str  # the CloudEvent as received


@dataclass(frozen=True)
class DueDelivery:
    delivery_id: int
    notification_id: int
    customer_id: str
    channel: str
    attempts: int
    source_message_id: str
    event: str
    title: str | None
    body: str | None
    html: str | None
    email: str | None
    webhook_url: str | None
    webhook_secret: str | None


@dataclass(frozen=True)
class NotificationSummary:
    notification_id: int
    customer_id: str
    kind: str
    request_id: str | None
    cluster_id: str | None
    title: str | None
    created_at: datetime
    delivered_at: datetime | None
    note: str | None
    status: str
    channels: str


@dataclass(frozen=True)
class NotificationRecord:
    notification_id: int
    customer_id: str
    kind: str
    request_id: str | None
    cluster_id: str | None
    source_message_id: str
    title: str | None
    body: str | None
    language: str | None
    created_at: datetime
    rendered_at: datetime | None
    delivered_at: datetime | None
    note: str | None


@dataclass(frozen=True)
class Delivery:
    delivery_id: int
    notification_id: int
    channel: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None


@dataclass(frozen=True)
class Attempt:
    delivery_id: int
    channel: str
    attempt: int
    destination: str
    started_at: datetime
    finished_at: datetime
    outcome: str
    answer: str


@dataclass(frozen=True)
class NotificationOfRequest:
    notification_id: int
    customer_id: str
    kind: str
    title: str | None
    created_at: datetime
    delivered_at: datetime | None


QUERIES = queries.load(__package__, rows=sys.modules[__name__])
