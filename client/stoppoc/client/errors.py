"""What the portal client raises. Every error is a ``stoppoc.contract.errors.StopPocError``; one
that means the broker cannot be reached is a ``ServiceUnavailable``."""

from stoppoc.contract.errors import StopPocError


class QuoteRefused(StopPocError):
    """The cluster cannot be priced (the ``stop_poc.quote_rejected`` reply)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class NotRouted(StopPocError):
    """No queue takes the command: the namespace is wrong, or stoppoc is not set up in it."""


class OutcomeTimeout(StopPocError, TimeoutError):
    """No answer came in time. The command was sent (and confirmed by the broker): it may still
    be handled; ask again with the same request id, or look it up with ``stoppoc conversions show``."""
