"""Named queries read from a ``.sql`` file, in the format aiosql and procrastinate use.

Each query is a block that starts with ``-- name: <name><op>``; an optional
``-- record_class: <Class>`` line after it names the dataclass (or pydantic model) each row
becomes; further ``--`` lines are its documentation. Parameters are named, ``:request_id``, and
are passed by keyword: ``await uow.q.start_round(request_id=..., resource_ids=...)``. Where SQL
takes an identifier rather than a value (``CREATE SCHEMA``), ``:"schema"`` (psql's spelling) puts
the keyword's value in, quoted as an identifier.

| op | returns |
| --- | --- |
| (none) | every row, as a list |
| ``^`` | the first row, or None |
| ``$`` | the first column of the first row, or None |
| ``!`` | nothing (a statement); use ``RETURNING`` with ``^`` or no op when the caller must know what changed |

Rows become ``record_class`` instances where one is named, else stay asyncpg records.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from types import ModuleType
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection of its own or one lent by a pool, and what queries run on.
Connection = asyncpg.Connection | PoolConnectionProxy
Executor = Connection | asyncpg.Pool
RowFactory = Callable[..., Any]

_HEADER = re.compile(r"^--\s*name:\s*(?P<name>\w+)(?P<op>[$^!]?)\s*$", re.MULTILINE)
_RECORD_CLASS = re.compile(r"^--\s*record_class:\s*(\w+)\s*$")
# A quoted string, a comment, a :"identifier" or a :parameter (not the casts in ``x::text``).
_TOKENS = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*"
    r"|(?<![:\w]):\"(?P<identifier>[A-Za-z_]\w*)\"|(?<![:\w]):(?P<param>[A-Za-z_]\w*)"
)
_IDENTIFIER_MARK = "\x00{}\x00"


class QueryFileError(ValueError):
    """A queries file that cannot be read: a bad block, an unknown record class, a repeated name."""


@dataclass(frozen=True)
class Query:
    name: str
    op: str
    sql: str  # with $1, $2… in place of the named parameters
    params: tuple[str, ...]
    identifiers: tuple[str, ...] = ()
    record_class: RowFactory | None = None

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        expected = (*self.params, *self.identifiers)
        if missing := [p for p in expected if p not in values]:
            raise TypeError(f"query {self.name} needs {', '.join(missing)}")
        if unknown := sorted(set(values) - set(expected)):
            raise TypeError(f"query {self.name} takes no {', '.join(unknown)}")
        return [values[p] for p in self.params]

    def text(self, values: Mapping[str, Any]) -> str:
        sql = self.sql
        for name in self.identifiers:
            sql = sql.replace(_IDENTIFIER_MARK.format(name), quote_identifier(str(values[name])))
        return sql

    async def run(self, executor: Executor, values: Mapping[str, Any]) -> Any:
        args = self.arguments(values)
        sql = self.text(values)
        if self.op == "!":
            await executor.execute(sql, *args)
            return None
        if self.op == "$":
            return await executor.fetchval(sql, *args)
        if self.op == "^":
            row = await executor.fetchrow(sql, *args)
            return None if row is None else self._row(row)
        return [self._row(row) for row in await executor.fetch(sql, *args)]

    def _row(self, record: asyncpg.Record) -> Any:
        return record if self.record_class is None else self.record_class(**dict(record.items()))


def parse(text: str, record_classes: Mapping[str, RowFactory] | None = None) -> dict[str, Query]:
    """The queries of a file's ``text``, by name."""
    record_classes = record_classes or {}
    headers = list(_HEADER.finditer(text))
    queries: dict[str, Query] = {}
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        name, op = header["name"], header["op"]
        body = text[header.end() : following.start() if following else len(text)].strip()
        record_class = None
        first_line = body.split("\n", 1)[0]
        if named := _RECORD_CLASS.match(first_line):
            if named[1] not in record_classes:
                raise QueryFileError(f"query {name}: no record class {named[1]!r}")
            record_class = record_classes[named[1]]
            body = body[len(first_line) :].strip()
        sql, params, identifiers = _number_parameters(body.rstrip().rstrip(";"))
        if not sql.strip() or all(line.lstrip().startswith("--") for line in sql.strip().splitlines()):
            raise QueryFileError(f"query {name} has no SQL")
        if name in queries:
            raise QueryFileError(f"query {name} is defined twice")
        queries[name] = Query(name, op, sql, params, identifiers, record_class)
    return queries


def _number_parameters(sql: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    params: list[str] = []
    identifiers: list[str] = []

    def number(match: re.Match[str]) -> str:
        if identifier := match["identifier"]:
            identifiers.append(identifier)
            return _IDENTIFIER_MARK.format(identifier)
        name = match["param"]
        if name is None:
            return match[0]  # a string or a comment, left as it is
        if name not in params:
            params.append(name)
        return f"${params.index(name) + 1}"

    return _TOKENS.sub(number, sql), tuple(params), tuple(dict.fromkeys(identifiers))


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Queries:
    """The queries of one file; ``bind(conn)`` gives them a connection to run on."""

    def __init__(self, queries: Mapping[str, Query], origin: str) -> None:
        self._queries = dict(queries)
        self.origin = origin

    def __getitem__(self, name: str) -> Query:
        try:
            return self._queries[name]
        except KeyError:
            raise AttributeError(f"{self.origin} has no query {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._queries

    @property
    def names(self) -> list[str]:
        return sorted(self._queries)

    def bind(self, executor: Executor) -> "BoundQueries":
        return BoundQueries(self, executor)


class BoundQueries:
    """``await bound.query_name(param=value, …)``: the file's queries on one connection."""

    def __init__(self, queries: Queries, executor: Executor) -> None:
        self._queries = queries
        self._executor = executor

    def __getattr__(self, name: str) -> Callable[..., Any]:
        query = self._queries[name]

        async def run(**values: Any) -> Any:
            return await query.run(self._executor, values)

        run.__name__ = name
        return run


def load(
    package: str, filename: str = "queries.sql", rows: ModuleType | Mapping[str, RowFactory] | None = None
) -> Queries:
    """The queries of ``package``'s ``filename``; ``rows`` holds the record classes they name."""
    text = (resources.files(package) / filename).read_text()
    classes = vars(rows) if isinstance(rows, ModuleType) else rows
    return Queries(parse(text, classes), f"{package}/{filename}")
