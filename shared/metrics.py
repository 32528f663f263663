"""Every metric the services export, in one place (Prometheus, all named ``stoppoc_…``).

Labels are of low cardinality only: service, routing key (of the contract; anything else is
``other``), outcome, error code, channel. Never a customer, cluster or request id.

Business figures are counted from what a service publishes (``count_published``, called by the
outbox relay, which sees every routing key), so domain code stays free of metrics: conversions by
their final event, settled VND by ``payment.settled`` kind, renewals by their outcome. Each
figure counts publications, which are at least once: a crash between the broker's confirm and the
outbox stamp counts an event twice, as it publishes it twice.
"""

import json

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from stoppoc.contract import COMMANDS, EVENTS

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(namespace="stoppoc", registry=REGISTRY)

# Handling takes milliseconds; an outage or a lock wait stretches it to seconds.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# A message's age when handled: the relay's wait, the queue's and the consumer's.
_AGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)

MESSAGES_RECEIVED = Counter(
    "stoppoc_messages_received",
    "Messages taken off a service's queue, by routing key",
    ["service", "routing_key"],
    registry=REGISTRY,
)
MESSAGES_HANDLED = Counter(
    "stoppoc_messages_handled",
    "Messages done with, by outcome: acknowledged (handled and committed), duplicate (dropped by the"
    " inbox), answered (a request replied to), dead_lettered, returned (handed back to the queue)",
    ["service", "routing_key", "outcome"],
    registry=REGISTRY,
)
HANDLING_SECONDS = Histogram(
    "stoppoc_message_handling_seconds",
    "Time from taking a message off the queue to being done with it",
    ["service", "routing_key"],
    buckets=_DURATION_BUCKETS,
    registry=REGISTRY,
)
MESSAGE_AGE_SECONDS = Histogram(
    "stoppoc_message_age_seconds",
    "Age of a message (its CloudEvents time) when its handling is done: the latency of one hop",
    ["service", "routing_key"],
    buckets=_AGE_BUCKETS,
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "stoppoc_dead_letters",
    "Messages a service gave up on and sent to its dead-letter queue, by error code",
    ["service", "error"],
    registry=REGISTRY,
)
REDELIVERIES = Counter(
    "stoppoc_redeliveries",
    "Deliveries the broker marked redelivered (a crash, a lost connection, a handed-back message)",
    ["service"],
    registry=REGISTRY,
)
HANDLER_RETRIES = Counter(
    "stoppoc_handler_retries",
    "Attempts at a message that failed and were tried again in process",
    ["service"],
    registry=REGISTRY,
)
OUTBOX_PENDING = Gauge(
    "stoppoc_outbox_pending",
    "Outbox rows committed but not yet published",
    ["service"],
    registry=REGISTRY,
)
OUTBOX_OLDEST_AGE = Gauge(
    "stoppoc_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox row (0 when none)",
    ["service"],
    registry=REGISTRY,
)
PUBLISHED = Counter(
    "stoppoc_published_messages",
    "Messages the outbox relay published with a broker confirm, by routing key",
    ["service", "routing_key"],
    registry=REGISTRY,
)
CONSUMING = Gauge(
    "stoppoc_consuming",
    "1 while the service takes messages, 0 while its consumer is paused (database away, wrong queue type)",
    ["service"],
    registry=REGISTRY,
)
READY = Gauge(
    "stoppoc_ready",
    "1 while /health/ready answers 200 for the service",
    ["service"],
    registry=REGISTRY,
)
CONVERSIONS = Counter(
    "stoppoc_conversions",
    "Conversions ended, by their final event",
    ["outcome"],
    registry=REGISTRY,
)
SETTLED_VND = Counter(
    "stoppoc_settled_vnd",
    "VND settled from wallets, by payment kind (conversion, renewal)",
    ["kind"],
    registry=REGISTRY,
)
RENEWALS = Counter(
    "stoppoc_renewals",
    "Renewals ended, by their final event (resources.renewed, renewal.failed, renewal.rejected)",
    ["outcome"],
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "stoppoc_notifications",
    "Notifications sent to customers, by channel (email, webhook) and status (delivered, failed, retried)",
    ["channel", "status"],
    registry=REGISTRY,
)

CONVERSION_OUTCOMES = ("cluster.poc_stopped", "stop_poc.completed", "stop_poc.failed", "stop_poc.rejected")
RENEWAL_OUTCOMES = ("resources.renewed", "renewal.failed", "renewal.rejected")
_KNOWN_KEYS = frozenset(COMMANDS) | frozenset(EVENTS)


def routing_key_label(routing_key: str | None) -> str:
    """The routing key as a label: the contract's keys, and ``other`` for anything else (a
    poison message may carry any key, and labels must stay few)."""
    return routing_key if routing_key in _KNOWN_KEYS else "other"


def count_published(service: str, routing_key: str, body: bytes) -> None:
    """What one published message tells about the business: called by the relay after the
    broker confirmed it."""
    PUBLISHED.labels(service, routing_key_label(routing_key)).inc()
    if routing_key in CONVERSION_OUTCOMES:
        CONVERSIONS.labels(routing_key).inc()
    elif routing_key in RENEWAL_OUTCOMES:
        RENEWALS.labels(routing_key).inc()
    elif routing_key == "payment.settled":
        data = json.loads(body).get("data", {})
        amount = data.get("amount")
        if isinstance(amount, int):
            SETTLED_VND.labels(str(data.get("kind") or "conversion")).inc(amount)


def count_notification(channel: str, status: str) -> None:
    """For the notifier: one notification sent (or failed, or retried) on one channel."""
    NOTIFICATIONS.labels(channel, status).inc()


def service_started(service: str) -> None:
    """Give the per-service series a zero, so dashboards show them before anything happens."""
    for gauge in (OUTBOX_PENDING, OUTBOX_OLDEST_AGE, CONSUMING, READY):
        gauge.labels(service)
    for counter in (REDELIVERIES, HANDLER_RETRIES):
        counter.labels(service)
