"""Durations and moments on the command line: ``--older-than 30m``, ``--since 2026-11-01``."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

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


class Duration(click.ParamType[timedelta]):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


class Moment(click.ParamType[datetime]):
    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_moment(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


def window_options(fn: Any) -> Any:
    """``--since T --until T``: the half-open window [since, until)."""
    fn = click.option("--until", type=Moment(), required=True, help="End of the window (exclusive), ISO 8601, UTC.")(fn)
    return click.option("--since", type=Moment(), required=True, help="Start of the window, ISO 8601, UTC.")(fn)


def check_window(since: datetime, until: datetime) -> None:
    if since >= until:
        raise click.UsageError("--since must be before --until")
