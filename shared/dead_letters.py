"""What a dead letter says about itself: the ``x-stoppoc-*`` headers a service adds when it gives
up on a message, and the one ``stoppoc dlq replay`` adds when it publishes the message again."""

from dataclasses import dataclass
from typing import Any

from stoppoc.contract.envelope import utc_now

HEADER_PREFIX = "x-stoppoc-"
# Set by `stoppoc dlq replay` on what it publishes again; gives the replay a fresh redelivery count.
REPLAYED_AT = f"{HEADER_PREFIX}replayed-at"
# The error code of a message delivered too often without being acknowledged.
REDELIVERY_LIMIT = "redelivery_limit"
DETAIL_LIMIT = 1000


@dataclass(frozen=True)
class DeadLetterReason:
    error: str  # a machine-readable code: invalid_envelope, invalid_data, retries_exhausted, …
    detail: str
    attempts: int


def dead_letter_headers(
    service: str, reason: DeadLetterReason, exchange: str | None, routing_key: str | None
) -> dict[str, Any]:
    return {
        f"{HEADER_PREFIX}service": service,
        f"{HEADER_PREFIX}error": reason.error,
        f"{HEADER_PREFIX}detail": reason.detail[:DETAIL_LIMIT],
        f"{HEADER_PREFIX}attempts": reason.attempts,
        f"{HEADER_PREFIX}failed-at": utc_now().isoformat(),
        f"{HEADER_PREFIX}original-exchange": exchange or "",
        f"{HEADER_PREFIX}original-routing-key": routing_key or "",
    }


def verdict(headers: dict[str, Any]) -> dict[str, Any]:
    """The ``x-stoppoc-*`` headers of a dead letter, without their prefix."""
    return {key.removeprefix(HEADER_PREFIX): value for key, value in headers.items() if key.startswith(HEADER_PREFIX)}


def without_verdict(headers: dict[str, Any]) -> dict[str, Any]:
    """The headers a message had before it was dead-lettered."""
    return {key: value for key, value in headers.items() if not key.startswith(HEADER_PREFIX)}
