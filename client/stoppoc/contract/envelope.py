"""The CloudEvents 1.0 structured-JSON envelope every message travels in."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from stoppoc.contract.base import Id, Name
from stoppoc.contract.errors import InvalidEnvelope

CONTENT_TYPE = "application/cloudevents+json"
TYPE_PREFIX = "stoppoc."
TYPE_VERSION = ".v1"


def type_for(routing_key: str) -> str:
    return f"{TYPE_PREFIX}{routing_key}{TYPE_VERSION}"


def routing_key_for(event_type: str) -> str:
    return event_type.removeprefix(TYPE_PREFIX).rsplit(".v", 1)[0]


def utc_now() -> datetime:
    return datetime.now(UTC)


# W3C trace context: a tracestate has at most 32 members of a key (256 characters at most), `=` and
# a value (256), separated by commas (with room for a space either side). A traceparent is
# 55 characters today; an `Id` leaves room for the fields a later version may add.
MAX_TRACESTATE_LENGTH = 32 * (256 + 1 + 256) + 31 * 3


def _ascii_text(value: str) -> str:
    for position, character in enumerate(value):
        if not (" " <= character <= "~" or character == "\t"):
            raise ValueError(f"only printable ASCII characters: {character!r} at {position}")
    return value


TraceState = Annotated[str, StringConstraints(max_length=MAX_TRACESTATE_LENGTH), AfterValidator(_ascii_text)]


class Envelope(BaseModel):
    # Unknown extension attributes are kept and passed on, as CloudEvents asks.
    model_config = ConfigDict(extra="allow", frozen=True)

    # The attributes have the contract's limits too: an id is an inbox key and goes into log
    # lines, so one over them is dead-lettered unread as `invalid_envelope`.
    specversion: Literal["1.0"] = "1.0"
    id: Id
    source: Id
    type: Id
    time: datetime
    datacontenttype: Name = "application/json"
    subject: Id | None = None  # the cluster id
    correlationid: Id | None = None  # the stop request id
    causationid: Id | None = None  # the cause's id
    # The CloudEvents distributed-tracing extension: the W3C trace context of the hop that sent it.
    traceparent: Id | None = None
    tracestate: TraceState | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def routing_key(self) -> str:
        return routing_key_for(self.type)

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def parse(cls, body: bytes) -> "Envelope":
        try:
            return cls.model_validate_json(body)
        except ValidationError as error:
            raise InvalidEnvelope(_first_error(error)) from error


def new_envelope(
    routing_key: str,
    data: dict[str, Any],
    *,
    source: str,
    subject: str | None = None,
    correlationid: str | None = None,
    causationid: str | None = None,
    message_id: str | None = None,
    traceparent: str | None = None,
    tracestate: str | None = None,
) -> Envelope:
    return Envelope(
        id=message_id or str(uuid.uuid4()),
        source=source,
        type=type_for(routing_key),
        time=utc_now(),
        subject=subject,
        correlationid=correlationid,
        causationid=causationid,
        traceparent=traceparent,
        tracestate=tracestate,
        data=data,
    )


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['msg']}"
