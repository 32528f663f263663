"""PostgreSQL helpers: one schema per service, SQL migrations from ``.sql`` files applied once
each, and the connection pool a service runs on."""

import contextlib
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from stoppoc.contract.errors import ServiceUnavailable, redact, unreachable
from stoppoc.shared.database_access import QUERIES as ACCESS
from stoppoc.shared.messaging import QUERIES as MESSAGING
from stoppoc.shared.queries import Connection

MESSAGING_MIGRATIONS = "stoppoc.shared.sql"
_LOCK_KEY = 0x5707_0C  # advisory lock taken while migrating, so two instances do not race
# What a server that cannot be reached raises: a socket error, or the server refusing us.
UNREACHABLE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


@contextlib.contextmanager
def reaching_postgres(url: str) -> Iterator[None]:
    try:
        yield
    except UNREACHABLE_ERRORS as error:
        raise unreachable("PostgreSQL", url, error) from error


async def use_json(conn: asyncpg.Connection) -> None:
    """jsonb and json columns and parameters as Python values (dicts, lists), both ways."""
    for type_name in ("jsonb", "json"):
        await conn.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def connect(database_url: str, schema: str | None = None, *, read_only: bool = False) -> asyncpg.Connection:
    """One connection, with ``schema`` first on its search path, for the CLI and the tests;
    ``read_only``: every transaction on it is read-only, whatever the role may do."""
    settings = {"search_path": schema} if schema else {}
    if read_only:
        settings["default_transaction_read_only"] = "on"
    with reaching_postgres(database_url):
        conn: asyncpg.Connection = await asyncpg.connect(database_url, server_settings=settings)
    await use_json(conn)
    return conn


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection needs on its way back to the pool, past asyncpg's own rollback of an
    unfinished transaction: nothing. The services set no session state (their roles, locks and
    search paths are the transaction's, ``SET LOCAL`` and ``pg_advisory_xact_lock``), so asyncpg's
    default reset (``RESET ALL``, ``UNLISTEN *``, …) would be a round trip per message for nothing."""


async def create_pool(database_url: str, schema: str, **kwargs: Any) -> asyncpg.Pool:
    with reaching_postgres(database_url):
        pool: asyncpg.Pool = await asyncpg.create_pool(
            database_url,
            init=use_json,
            reset=_keep_session,
            server_settings={
                "search_path": schema,
                "application_name": f"stoppoc-{schema}",
                # A killed instance's backend waiting on a lock would otherwise keep its place
                # (and the locks it holds) until it got the lock; this ends it within seconds.
                "client_connection_check_interval": "2s",
            },
            **kwargs,
        )
    return pool


def _sql_files(package: str, folder: str | None = None) -> list[tuple[str, str]]:
    root = resources.files(package)
    if folder:
        root = root / folder
    return sorted((f.name, f.read_text()) for f in root.iterdir() if f.name.endswith(".sql"))


async def migrate(conn: Connection, schema: str, package: str) -> list[str]:
    """Apply the shared messaging tables and then ``package``'s migrations, each once, as the
    schema's owner: a migrator that is a member of the owner's role acts as it (``SET ROLE``), so
    that the service's role owns every table (see shared/database_access.py). A schema that does
    not exist yet is created by (and for) whoever migrates."""
    q = MESSAGING.bind(conn)
    access = ACCESS.bind(conn)
    applied_now = []
    async with conn.transaction():
        await q.lock_migrations(lock_key=_LOCK_KEY)
        owner = await access.schema_owner(schema=schema)
        if owner is None:
            await q.create_schema(schema=schema)
        elif owner != await access.session_role():
            await access.act_as(role=owner)
        await q.use_schema(schema=schema)
        await q.create_migrations_table()
        done = {migration.name for migration in await q.applied_migrations()}
        migrations = [(f"shared/{n}", sql) for n, sql in _sql_files(MESSAGING_MIGRATIONS)]
        migrations += [(f"{schema}/{n}", sql) for n, sql in _sql_files(package, "migrations")]
        for name, sql in migrations:
            if name in done:
                continue
            await conn.execute(sql)
            await q.record_migration(name=name)
            applied_now.append(name)
    return applied_now


async def ensure_database(database_url: str) -> bool:
    """Create the database named in the URL if it does not exist. True if it was created.

    The server's ``postgres`` database is used only when the named one is missing, so a user
    without access to it (or without CREATEDB) can still run against an existing database.
    """
    try:
        conn = await asyncpg.connect(database_url)
    except asyncpg.InvalidCatalogNameError:
        pass
    except UNREACHABLE_ERRORS as error:
        raise unreachable("PostgreSQL", database_url, error) from error
    else:
        await conn.close()
        return False
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with reaching_postgres(admin_url):
        admin = await asyncpg.connect(admin_url)
    try:
        await MESSAGING.bind(admin).create_database(database=name)
    except asyncpg.DuplicateDatabaseError:
        return False
    except asyncpg.PostgresError as error:
        raise ServiceUnavailable(f"cannot create database {name!r} at {redact(database_url)}: {error}") from error
    finally:
        await admin.close()
    return True
