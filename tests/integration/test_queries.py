"""Every named query of every service is valid SQL against the migrated schema, and a query that
names a record class returns exactly that class's fields: a column added to a table and to a
row class but forgotten in one query fails here, not in production."""

import dataclasses

import asyncpg
import pytest
from pydantic import BaseModel

from stoppoc.cli import bench_usage
from stoppoc.services import registry
from stoppoc.shared import database_access, db
from stoppoc.shared.messaging import QUERIES as MESSAGING
from stoppoc.shared.queries import Queries

pytestmark = pytest.mark.integration

FILES: dict[str, Queries] = {service: registry.definition(service).queries for service in registry.SERVICES}


def fields_of(record_class: type) -> list[str]:
    if isinstance(record_class, type) and issubclass(record_class, BaseModel):
        return list(record_class.model_fields)
    return [field.name for field in dataclasses.fields(record_class)]


@pytest.mark.parametrize("service", registry.SERVICES)
async def test_each_query_prepares_and_returns_its_record_class(database_url, service):
    queries = FILES[service]
    conn = await db.connect(database_url, service)
    try:
        for name in [*queries.names, *(f"messaging:{n}" for n in MESSAGING.names)]:
            query = MESSAGING[name.split(":", 1)[1]] if name.startswith("messaging:") else queries[name]
            if query.identifiers:
                continue  # DDL on a name given at run time (CREATE SCHEMA "x"): nothing to prepare
            statement = await conn.prepare(query.sql)
            if query.record_class is not None:
                columns = [attribute.name for attribute in statement.get_attributes()]
                assert sorted(columns) == sorted(fields_of(query.record_class)), f"{service}: {name}"
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "queries", [database_access.QUERIES, bench_usage.SQL], ids=["shared/database_access.sql", "cli/bench.sql"]
)
async def test_the_queries_outside_the_services_prepare_and_return_their_record_class(database_url, queries):
    conn = await asyncpg.connect(database_url)
    try:
        if "create_bare_chain_schema" in queries:  # the bench makes the bare chain's table first
            await queries.bind(conn).create_bare_chain_schema()
            await queries.bind(conn).create_bare_chain_inbox()
        for name in queries.names:
            query = queries[name]
            if query.identifiers:
                continue
            statement = await conn.prepare(query.sql)
            if query.record_class is not None:
                columns = [attribute.name for attribute in statement.get_attributes()]
                assert sorted(columns) == sorted(fields_of(query.record_class)), name
    finally:
        await conn.close()
