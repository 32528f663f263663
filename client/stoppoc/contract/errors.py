"""One exception hierarchy. Each class's docstring is its default message."""

from urllib.parse import urlsplit, urlunsplit


class StopPocError(Exception):
    """Something went wrong in stoppoc."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class PermanentMessageError(StopPocError):
    """The message can never be handled; it goes to the dead-letter queue."""

    code = "permanent_error"


class InvalidEnvelope(PermanentMessageError):
    """The body is not a CloudEvents 1.0 JSON object."""

    code = "invalid_envelope"


class UnknownMessageType(PermanentMessageError):
    """No handler of this service takes this message type."""

    code = "unknown_type"


class InvalidData(PermanentMessageError):
    """The message's data does not match its type's schema."""

    code = "invalid_data"


class Misrouted(PermanentMessageError):
    """The message's type is not what it was published as: its exchange or routing key differ."""

    code = "misrouted"


class InvariantViolation(PermanentMessageError):
    """The message contradicts what this service knows to be true."""

    code = "invariant_violation"


class MessageTooLarge(PermanentMessageError):
    """The message's body is larger than this service takes; it was not read."""

    code = "message_too_large"


class UnreadableHeaders(PermanentMessageError):
    """A header of the message is nested deeper than the services read; the message was not read."""

    code = "unreadable_headers"


class ServiceUnavailable(StopPocError):
    """A broker or database this command needs cannot be reached."""


def redact(url: str) -> str:
    """``url`` without its password, fit for a log line or an error message."""
    parts = urlsplit(url)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
    return urlunsplit(parts)


def unreachable(server: str, url: str, error: BaseException) -> ServiceUnavailable:
    """The one way a server that cannot be reached is reported: ``cannot reach RabbitMQ at …: …``."""
    return ServiceUnavailable(f"cannot reach {server} at {redact(url)}: {error}")
