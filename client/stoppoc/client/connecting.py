"""The one way a broker that cannot be connected to is reported (``stoppoc.contract.errors.unreachable``)."""

from aiormq.exceptions import ProtocolSyntaxError

from stoppoc.contract.errors import ServiceUnavailable, unreachable

# What connecting raises when the broker is away or refuses us. aiormq's AMQPConnectionError family
# (a refused login among them) is an OSError; a virtual host the broker refuses closes the
# connection while it opens, which aiormq reports as a protocol error (InvalidFrameError).
CANNOT_CONNECT = (OSError, ProtocolSyntaxError)


def broker_unreachable(url: str, error: BaseException) -> ServiceUnavailable:
    if isinstance(error, ProtocolSyntaxError):
        # aiormq names only the frame's object: say what it means.
        error = ConnectionRefusedError(
            "the broker closed the connection while opening it: does the virtual host exist, and may this user use it?"
        )
    return unreachable("RabbitMQ", url, error)
