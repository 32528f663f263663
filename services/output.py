"""How the CLI shows rows: a table on a terminal, JSON with ``--json`` (for scripts)."""

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def show(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, as_json: bool, title: str | None = None) -> None:
    """Print ``rows``; money columns (ints) are right-aligned with thousands separators."""
    if as_json:
        click.echo(json.dumps([{k: _plain(v) for k, v in row.items()} for row in rows], indent=2, default=str))
        return
    table = Table(title=title)
    for column in columns:
        numeric = any(isinstance(row.get(column), int) and not isinstance(row.get(column), bool) for row in rows)
        table.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    Console(width=None if sys.stdout.isatty() else 160).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)
