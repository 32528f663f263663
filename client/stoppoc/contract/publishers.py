"""Who publishes what: the one place that says which service emits each event, which client or
service may send each command, and which events the subscribers outside stoppoc may follow.

The broker's permissions are derived from it (``stoppoc access broker-definitions``), so a
service can publish exactly what is listed here and nothing else. Tests check it against what
each service's code constructs and against the producer column of docs/contract.md.
"""

SERVICE_PUBLISHES: dict[str, frozenset[str]] = {
    "inventory": frozenset(
        {
            "cluster.registered",
            "resource.registered",
            "resource.deleted",
            "stop_poc.requested",
            "stop_poc.rejected",
            "resources.converted",
            "stop_poc.failed",
            "stop_poc.completed",
            "cluster.poc_stopped",
            "cluster.poc_expiring",
            "renewal.requested",
            "resources.renewed",
            "renewal.failed",
            "renewal.rejected",
            "resource.expiring",
            "resource.expired",
            "resource.suspended",
            "resource.deletion_due",
            "resource.resumed",
            # Commands: a quote's next hop, and the refund of a line paid for a resource that is gone.
            "checkout.quote.price",
            "payment.wallet.credit",
        }
    ),
    "checkout": frozenset({"order.created", "order.rejected", "payment.quote.fund"}),
    "payment": frozenset(
        {"payment.settled", "payment.failed", "payment.awaiting_funds", "wallet.credited", "wallet.credit_rejected"}
    ),
    "notifier": frozenset(),  # it tells customers; it announces nothing
}

# The clients outside stoppoc, and the commands each may send.
CLIENT_SENDS: dict[str, frozenset[str]] = {
    "platform": frozenset({"inventory.cluster.upsert", "inventory.resource.upsert", "inventory.resource.delete"}),
    "portal": frozenset(
        {
            "inventory.stop_poc.request",
            "inventory.stop_poc.quote",
            "inventory.renewal.request",
            "notifier.contact.upsert",
        }
    ),
    "billing": frozenset({"payment.wallet.credit", "checkout.coupon.upsert"}),
}

# What the portal follows to show a customer how their conversion and renewals went.
PORTAL_FOLLOWS = frozenset(
    {
        "stop_poc.requested",
        "stop_poc.rejected",
        "stop_poc.failed",
        "stop_poc.completed",
        "cluster.poc_stopped",
        "resources.converted",
        "payment.awaiting_funds",
        "payment.settled",
        "payment.failed",
        "resources.renewed",
        "renewal.failed",
        "renewal.rejected",
    }
)

# What billing follows to learn what became of the credits it sent.
BILLING_FOLLOWS = frozenset({"wallet.credited", "wallet.credit_rejected"})

# Commands that are requests (AMQP reply_to): the service they are addressed to answers the
# caller's queue through the default exchange.
REQUESTS = frozenset({"inventory.stop_poc.quote", "checkout.quote.price", "payment.quote.fund"})

# The settlement events billing analysts may read (and nothing else).
SETTLEMENT_EVENTS = frozenset({"payment.settled", "payment.failed", "wallet.credited"})


def producer_of(event: str) -> str:
    """The service that emits ``event``."""
    for service, routing_keys in SERVICE_PUBLISHES.items():
        if event in routing_keys:
            return service
    raise KeyError(f"no service publishes {event!r}")
