"""A dead letter as an operator reads it, whatever bytes it holds.

A dead-letter queue holds what the services could not read: bodies that are not UTF-8, not JSON,
nested a hundred thousand deep, megabytes long. Each is described here without ever failing:
readable (JSON, within ``READABLE_BYTES``) or unreadable with the reason, its size and a prefix
safe to print on a terminal. One message never hides the others.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from stoppoc.shared.dead_letters import verdict

READABLE_BYTES = 1024 * 1024  # a larger body is shown as unreadable (size and prefix), never parsed
READABLE_DEPTH = 200  # deeper JSON is unreadable too: printing it would recurse past Python's limit
PREFIX_BYTES = 80


@dataclass(frozen=True)
class Body:
    size: int
    prefix: str  # printable: non-printable characters escaped
    problem: str | None  # None: readable JSON
    parsed: Any = None

    @property
    def readable(self) -> bool:
        return self.problem is None

    def summary(self) -> dict[str, Any]:
        return {"size": self.size, "readable": self.readable, "problem": self.problem, "prefix": self.prefix}

    def describe(self) -> str:
        """One line: ``unreadable (not JSON), 9 bytes: {not json``; empty for a readable body."""
        return "" if self.readable else f"unreadable ({self.problem}), {self.size:,} bytes: {self.prefix}"


def printable(text: str) -> str:
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def read_body(body: bytes) -> Body:
    prefix = printable(body[:PREFIX_BYTES].decode("utf-8", errors="backslashreplace"))
    if len(body) > PREFIX_BYTES:
        prefix += "…"
    if len(body) > READABLE_BYTES:
        return Body(len(body), prefix, f"larger than {READABLE_BYTES:,} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Body(len(body), prefix, "not UTF-8")
    try:
        parsed = json.loads(text)
    except RecursionError:
        return Body(len(body), prefix, "JSON nested too deep")
    except ValueError:
        return Body(len(body), prefix, "not JSON")
    if _depth(parsed) > READABLE_DEPTH:
        return Body(len(body), prefix, "JSON nested too deep")
    return Body(len(body), prefix, None, parsed)


def _depth(value: Any) -> int:
    """How deeply lists and objects nest, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return printable(value.decode("utf-8", errors="backslashreplace"))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _failed_at(value: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _by_the_broker(headers: dict[str, Any]) -> dict[str, Any]:
    """A letter the broker dead-lettered itself (a quorum queue's delivery limit: the service died
    on that very delivery) has no verdict of ours, only ``x-death``: what it says, in the same terms."""
    deaths = headers.get("x-death")
    death = deaths[0] if isinstance(deaths, list) and deaths else None  # the latest death comes first
    if not isinstance(death, dict):
        return {}
    routing_keys = death.get("routing-keys")
    return {
        "error": str(death.get("reason") or "dead-lettered by the broker"),
        "detail": f"dead-lettered by the broker from {death.get('queue')}",
        "queue": death.get("queue"),
        "original-exchange": death.get("exchange") or "",
        "original-routing-key": routing_keys[0] if isinstance(routing_keys, list) and routing_keys else "",
        "failed-at": death.get("time"),
    }


@dataclass(frozen=True)
class DeadLetter:
    """What ``stoppoc dlq`` shows of one message: its id, the verdict headers without their
    ``x-stoppoc-`` prefix, the body described, and how long ago it failed."""

    id: str  # the message id; a message without one is named by its body's digest
    message_id: str | None
    headers: dict[str, Any]  # x-stoppoc-* without the prefix
    other_headers: dict[str, Any]
    body: Body
    properties: dict[str, Any]
    raw_body: bytes

    @classmethod
    def of(cls, message: AbstractIncomingMessage) -> "DeadLetter":
        raw_headers = dict(message.headers or {})
        ours = verdict(raw_headers)
        stamped = ours or _by_the_broker(raw_headers)
        others = {k: v for k, v in raw_headers.items() if k.removeprefix("x-stoppoc-") not in ours}
        properties = {
            "content_type": message.content_type,
            "correlation_id": message.correlation_id,
            "reply_to": message.reply_to,
            "redelivered": message.redelivered,
        }
        return cls(
            id=message.message_id or f"sha256:{hashlib.sha256(message.body).hexdigest()[:16]}",
            message_id=message.message_id,
            headers=_plain(stamped),
            other_headers=_plain(others),
            body=read_body(message.body),
            properties=_plain(properties),
            raw_body=message.body,
        )

    @property
    def error(self) -> str:
        return str(self.headers.get("error") or "unknown")

    @property
    def type(self) -> str | None:
        parsed = self.body.parsed
        found = parsed.get("type") if isinstance(parsed, dict) else None
        return found if isinstance(found, str) else None

    def age_seconds(self, now: datetime) -> float | None:
        failed_at = _failed_at(self.headers.get("failed-at"))
        return None if failed_at is None else max(0.0, (now - failed_at).total_seconds())

    def names(self, request_id: str) -> bool:
        """Whether the body names this request (or renewal) id: its correlation id, or a field of
        its data. An unreadable body is searched as bytes."""
        parsed = self.body.parsed
        if isinstance(parsed, dict):
            data = parsed.get("data")
            fields = data if isinstance(data, dict) else {}
            return request_id in (parsed.get("correlationid"), fields.get("request_id"), fields.get("renewal_id"))
        return json.dumps(request_id).encode() in self.raw_body

    def row(self, now: datetime) -> dict[str, Any]:
        """The list view: no body, its description."""
        return {
            "id": self.id,
            "message_id": self.message_id,
            "type": self.type,
            "error": self.error,
            "attempts": self.headers.get("attempts"),
            "age_seconds": self.age_seconds(now),
            **self.headers,
            "body": self.body.summary(),
        }

    def detail(self, now: datetime) -> dict[str, Any]:
        """The show view: everything, with the body parsed when it is readable."""
        return {
            **self.row(now),
            "headers": self.other_headers,
            "properties": self.properties,
            "body": {**self.body.summary(), "json": self.body.parsed},
        }


def age(seconds: float | None) -> str:
    """``42s``, ``3m``, ``5h``, ``2d``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
