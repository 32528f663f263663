"""How the CLI sends commands: through the portal's own client (``stoppoc.client``), as a portal
backend or a billing tool would, with one way to report what went wrong."""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from pydantic import BaseModel, ValidationError

from stoppoc.cli.database import TIMEOUT, UNREACHABLE, fail, run_async
from stoppoc.client import NotRouted, OutcomeTimeout, StopPocClient
from stoppoc.shared.settings import get_settings

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def command(model: type[M], **fields: Any) -> M:
    """The contract's model of a command built from the options; invalid: a usage error (exit 2)."""
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in error.errors())
        raise click.UsageError(problems) from None


def with_client(fn: Callable[[StopPocClient], Awaitable[T]]) -> T:
    """``fn(client)`` on a connected client; exit 3 when the broker or the namespace cannot be
    reached, 4 when an awaited answer did not come."""
    settings = get_settings()

    async def go() -> T:
        async with StopPocClient(settings.amqp_url, settings.namespace, source="/stoppoc/cli") as client:
            return await fn(client)

    try:
        return run_async(go())
    except NotRouted as error:
        fail(str(error), UNREACHABLE)
    except OutcomeTimeout as error:
        fail(str(error), TIMEOUT)
