"""The final events the client awaits, by what they end: a conversion (by request id) or a
renewal (by renewal id, which is the request id of ``inventory.renewal.request``)."""

from dataclasses import dataclass

from stoppoc.contract.base import Message
from stoppoc.contract.envelope import Envelope
from stoppoc.contract.events import BY_ROUTING_KEY

# A conversion ends in exactly one of these for its request_id; the models are the contract's.
CONVERSION_FINAL: dict[str, type[Message]] = {
    key: BY_ROUTING_KEY[key]
    for key in ("cluster.poc_stopped", "stop_poc.completed", "stop_poc.failed", "stop_poc.rejected")
}
# A manual renewal ends in one of these for its renewal_id.
RENEWAL_FINAL: dict[str, type[Message]] = {
    key: BY_ROUTING_KEY[key] for key in ("resources.renewed", "renewal.failed", "renewal.rejected")
}
SUCCEEDED = frozenset({"cluster.poc_stopped", "stop_poc.completed", "resources.renewed"})


@dataclass(frozen=True)
class Awaited:
    """What one wait is for: the final events of a conversion or a renewal, and the id field."""

    events: dict[str, type[Message]]
    id_field: str


CONVERSION = Awaited(CONVERSION_FINAL, "request_id")
RENEWAL = Awaited(RENEWAL_FINAL, "renewal_id")


@dataclass(frozen=True)
class Outcome:
    """How a conversion or renewal ended: its final event, typed, and the CloudEvent it came in."""

    routing_key: str
    event: Message
    envelope: Envelope

    @property
    def succeeded(self) -> bool:
        """Something was converted or renewed (``cluster.poc_stopped``, ``stop_poc.completed``,
        ``resources.renewed``); False for failed and rejected."""
        return self.routing_key in SUCCEEDED
