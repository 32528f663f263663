"""What one delivery attempt came to, whatever the channel."""

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # a temporary failure: tried again later, until the attempts run out
    FAILED = "failed"  # a permanent failure: never tried again (unless an operator says so)


@dataclass(frozen=True)
class Outcome:
    status: Status
    answer: str  # what the other side said (an SMTP reply, an HTTP status) or why it was not asked

    @classmethod
    def sent(cls, answer: str) -> "Outcome":
        return cls(Status.SENT, answer)

    @classmethod
    def retry(cls, answer: str) -> "Outcome":
        return cls(Status.RETRY, answer)

    @classmethod
    def failed(cls, answer: str) -> "Outcome":
        return cls(Status.FAILED, answer)
