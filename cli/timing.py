"""Durations and moments on the command line: ``--older-than 30m``, ``--since 2026-11-01``."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

T = TypeVar("T")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``1d``, or parts together: ``1h30m``."""
    compact = text.strip().lower()
    parts = _PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration such as 90s, 30m, 2h, 1d or 1h30m")
    return timedelta(seconds=sum(float(n) * _SECONDS[u] for n, u in parts))


def parse_moment(text: str) -> datetime:
    """An ISO 8601 date or date and time; UTC unless it names its offset."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date or time such as 2026-11-01 or 2026-11-01T08:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Parsed(click.ParamType[T]):
    """An option's value read by ``parse``; a ValueError is a usage error saying what is expected."""

    def __init__(self, name: str, parse: Callable[[str], T], kind: type[T]) -> None:
        self.name, self._parse, self._kind = name, parse, kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> T:
        if isinstance(value, self._kind):
            return value
        try:
            return self._parse(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


def Duration() -> Parsed[timedelta]:
    return Parsed("duration", parse_duration, timedelta)


def Moment() -> Parsed[datetime]:
    return Parsed("time", parse_moment, datetime)


def window_options(fn: Any) -> Any:
    """``--since T --until T``: the half-open window [since, until)."""
    fn = click.option("--until", type=Moment(), required=True, help="End of the window (exclusive), ISO 8601, UTC.")(fn)
    return click.option("--since", type=Moment(), required=True, help="Start of the window, ISO 8601, UTC.")(fn)


def check_window(since: datetime, until: datetime) -> None:
    if since >= until:
        raise click.UsageError("--since must be before --until")
