"""Least privilege in PostgreSQL: one role per service owning its schema and nothing else, a
read-only role for the staff's views (the CLI), and a migrator that can do nothing but act as a
schema's owner (``SET ROLE``) to migrate it.

``provision`` is run by a database administrator (``stoppoc access database-roles``): it creates
the roles (or sets their passwords), gives each service its schema and what it holds, and closes
the database to everyone else. Idempotent: run it again after adding a service or to rotate a
password. Role names are ``<namespace>_<service>``, ``<namespace>_staff``, ``<namespace>_migrator``.
"""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stoppoc.shared import queries
from stoppoc.shared.queries import Connection

QUERIES = queries.load("stoppoc.shared", "database_access.sql")
STAFF, MIGRATOR = "staff", "migrator"
SCRAM_ITERATIONS = 4096


@dataclass(frozen=True)
class Roles:
    namespace: str

    def of(self, principal: str) -> str:
        """The role of a service, or of ``staff`` or ``migrator``."""
        return f"{self.namespace}_{principal}"


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802, 7677): sent instead of the
    password, so that the password never reaches the server or its logs."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


async def provision(
    conn: Connection,
    roles: Roles,
    services: Iterable[str],
    passwords: Mapping[str, str] | None = None,
) -> list[str]:
    """Create or update every role and give each service its schema. ``passwords``: by
    principal (a service, ``staff``, ``migrator``); a role without one keeps its password (or,
    new, has none: for trust, peer or certificate authentication). What was done, in words."""
    services = list(services)
    passwords = passwords or {}
    done: list[str] = []
    async with conn.transaction():
        q = QUERIES.bind(conn)
        database = await q.database_name()
        for principal in [*services, STAFF, MIGRATOR]:
            role = roles.of(principal)
            if not await q.role_exists(role=role):
                await q.create_login_role(role=role)
                done.append(f"role {role} created")
            if principal == MIGRATOR:
                await q.set_no_inherit(role=role)
            if principal in passwords:
                await q.stage(role=role, value=scram_verifier(passwords[principal]))
                await q.apply_staged_password()
                done.append(f"role {role}: password set")
            await q.allow_connect(database=database, role=role)
        await q.close_database(database=database)
        await q.close_public_schema()
        for service in services:
            role = roles.of(service)
            await q.grant_role(role=role, member=roles.of(MIGRATOR))
            owner = await q.schema_owner(schema=service)
            if owner is None:
                await q.create_schema_for(schema=service, role=role)
                done.append(f"schema {service} created, owned by {role}")
            elif owner != role:
                await q.give_schema(schema=service, role=role)
                done.append(f"schema {service} given to {role}")
            await q.stage(role=role, value=service)
            await q.give_schema_objects()
            reader = roles.of(STAFF)
            await q.let_read_schema(schema=service, reader=reader)
            await q.let_read_tables(schema=service, reader=reader)
            await q.let_read_future_tables(role=role, schema=service, reader=reader)
    return done
