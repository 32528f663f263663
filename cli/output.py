"""How the CLI shows rows: a table on a terminal, JSON with ``--json`` (for scripts)."""

import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import click
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


Row = Mapping[str, Any] | BaseModel | Any  # a mapping, a pydantic model or a dataclass instance


def as_dict(row: Row) -> dict[str, Any]:
    if isinstance(row, BaseModel):
        return row.model_dump()
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return dataclasses.asdict(row)
    return dict(row)  # type: ignore[arg-type]  # a mapping, the one kind left


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=_json_default))


def show_with_rows(
    record: Row,
    rows_key: str,
    rows: Sequence[Row],
    *,
    as_json: bool,
    record_columns: Sequence[str] | None,
    row_columns: Sequence[str],
    title: str,
    rows_title: str | None = None,
) -> None:
    """One record and the rows that belong to it (an order and its lines, a wallet and its
    ledger): one JSON document, or a table for each (no record table if no columns are given)."""
    if as_json:
        echo_json({**as_dict(record), rows_key: [as_dict(row) for row in rows]})
        return
    if record_columns:
        show([record], record_columns, as_json=False, title=title)
    show(rows, row_columns, as_json=False, title=rows_title if record_columns else title)


def show(rows: Sequence[Row], columns: Sequence[str], *, as_json: bool, title: str | None = None) -> None:
    """Print ``rows``; money columns (ints) are right-aligned with thousands separators."""
    plain = [as_dict(row) for row in rows]
    if as_json:
        echo_json(plain)
        return
    table = Table(title=title)
    for column in columns:
        numeric = any(isinstance(row.get(column), int) and not isinstance(row.get(column), bool) for row in plain)
        table.add_column(column, justify="right" if numeric else "left")
    for row in plain:
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
    return escape(str(value))  # text from a message (a body's prefix) is never markup
