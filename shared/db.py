"""PostgreSQL helpers: one schema per service, SQL migrations from ``.sql`` files, and
named queries parsed from a ``queries.sql`` file (``-- name: query_name`` blocks)."""

import re
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from shared.errors import ServiceUnavailable

MESSAGING_MIGRATIONS = "shared.sql"
_LOCK_KEY = 0x5707_0C  # advisory lock taken while migrating, so two instances do not race


async def create_pool(database_url: str, schema: str, **kwargs) -> asyncpg.Pool:
    try:
        return await asyncpg.create_pool(
            database_url,
            server_settings={
                "search_path": schema,
                "application_name": f"stoppoc-{schema}",
                # A killed instance's backend waiting on a lock would otherwise keep its place
                # (and the locks it holds) until it got the lock; this ends it within seconds.
                "client_connection_check_interval": "2s",
            },
            **kwargs,
        )
    except (OSError, asyncpg.PostgresError) as error:
        raise ServiceUnavailable(f"cannot reach PostgreSQL at {redact(database_url)}: {error}") from error


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def _sql_files(package: str, folder: str | None = None) -> list[tuple[str, str]]:
    root = resources.files(package)
    if folder:
        root = root / folder
    files = sorted((f.name, f.read_text()) for f in root.iterdir() if f.name.endswith(".sql"))
    return files


async def migrate(conn: asyncpg.Connection, schema: str, package: str) -> list[str]:
    """Apply the shared messaging tables and then ``package``'s migrations, each once."""
    applied_now = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f'SET LOCAL search_path TO "{schema}"')
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        migrations = [(f"shared/{n}", sql) for n, sql in _sql_files(MESSAGING_MIGRATIONS)]
        migrations += [(f"{schema}/{n}", sql) for n, sql in _sql_files(package, "migrations")]
        for name, sql in migrations:
            if name in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
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
    except (OSError, asyncpg.PostgresError) as error:
        raise ServiceUnavailable(f"cannot reach PostgreSQL at {redact(database_url)}: {error}") from error
    else:
        await conn.close()
        return False
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    try:
        admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    except (OSError, asyncpg.PostgresError) as error:
        raise ServiceUnavailable(f"cannot create database {name!r} at {redact(database_url)}: {error}") from error
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.DuplicateDatabaseError:
        return False
    finally:
        await admin.close()
    return True


_QUERY_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def load_queries(package: str, filename: str = "queries.sql") -> dict[str, str]:
    text = (resources.files(package) / filename).read_text()
    parts = _QUERY_NAME.split(text)
    queries = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        queries[name] = body.strip().rstrip(";")
    return queries
