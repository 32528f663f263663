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


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=lambda v: _plain(v) if isinstance(v, datetime | date) else str(v)))


def show_with_rows(
    record: Mapping[str, Any], rows_key: str, rows: Sequence[Mapping[str, Any]], *, as_json: bool,
    record_columns: Sequence[str] | None, row_columns: Sequence[str], title: str, rows_title: str | None = None,
) -> None:
    """One record and the rows that belong to it (an order and its lines, a wallet and its
    ledger): one JSON document, or a table for each (no record table if no columns are given)."""
    if as_json:
        echo_json({**record, rows_key: [dict(row) for row in rows]})
        return
    if record_columns:
        show([record], record_columns, as_json=False, title=title)
    show(rows, row_columns, as_json=False, title=rows_title if record_columns else title)


def show(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, as_json: bool, title: str | None = None) -> None:
    """Print ``rows``; money columns (ints) are right-aligned with thousands separators."""
    if as_json:
        echo_json([dict(row) for row in rows])
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
