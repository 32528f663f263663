"""``stoppoc access``: who may do what on the broker and in the database, and the files and roles
that make it so (docs/kubernetes.md, "Least privilege").

Passwords are never arguments: they are read from a directory holding one file per credential
(``rabbitmq-<principal>``, ``postgres-<role>``), as Kubernetes and Docker mount secrets, and
``stoppoc access secrets DIR`` fills one with random passwords where none are yet.
"""

import json
import secrets
from pathlib import Path

import click

from stoppoc.cli.database import fail, run_async
from stoppoc.cli.output import json_option, show
from stoppoc.services.registry import SERVICES, topology
from stoppoc.shared import broker_access, database_access, db
from stoppoc.shared.settings import get_settings
from stoppoc.shared.topology import Names

BROKER_SECRET = "rabbitmq-{}"
DATABASE_SECRET = "postgres-{}"
DATABASE_PRINCIPALS = (*SERVICES, database_access.STAFF, database_access.MIGRATOR)


@click.group()
def access() -> None:
    """Least privilege: broker users and permissions, database roles, their secrets."""


@access.command("show")
@json_option
def show_grants(as_json: bool) -> None:
    """Each broker user of the namespace: what it is for, what it may publish (commands and events;
    dead letters: into which queue's dead-letter queue), read and bind."""
    names = Names(get_settings().namespace)
    rows = [
        {
            "user": broker_access.user_name(names, grant.principal),
            "purpose": grant.purpose,
            "publishes": "any routing key" if grant.any_routing_key else ", ".join(sorted(grant.publishes)),
            "dead-letters": ", ".join(sorted(grant.dead_letters)),  # routing keys on NS.dead-letters
            "reads": ", ".join(pattern.replace("\\", "") for pattern in grant.read),
            "binds": ", ".join(sorted(grant.binds_commands | grant.binds_events | grant.binds_dead_letters)),
        }
        for grant in broker_access.grants(names, topology())
    ]
    columns = ["user", "purpose", "publishes", "dead-letters", "reads", "binds"]
    show(rows, columns, as_json=as_json, title="broker users")


@access.command("broker-definitions")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
def broker_definitions(output: Path | None) -> None:
    """RabbitMQ definitions for STOPPOC_NAMESPACE: the virtual host and every user's permissions
    and topic permissions, as `load_definitions` reads them (deploy/rabbitmq/definitions.json)."""
    names = Names(get_settings().namespace)
    _write(broker_access.definitions(names, topology()), output, private=False)


@access.command("broker-users")
@click.option(
    "--passwords-from",
    "secrets_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="DIR/rabbitmq-<principal> holds each user's password (see `stoppoc access secrets`).",
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
def broker_users(secrets_dir: Path, output: Path | None) -> None:
    """The broker's users with their passwords, as definitions to load before broker-definitions'."""
    names = Names(get_settings().namespace)
    passwords = {p: _read_secret(secrets_dir / BROKER_SECRET.format(p)) for p in broker_access.BROKER_USERS}
    _write(broker_access.users(names, passwords), output, private=True)


def _write(document: dict[str, object], output: Path | None, *, private: bool) -> None:
    text = json.dumps(document, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    output.touch(mode=0o600 if private else 0o644)
    output.write_text(text)


@access.command("secrets")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def make_secrets(directory: Path) -> None:
    """Write a random password for every credential that has none in DIRECTORY yet (the others
    stay as they are), one file each, readable by the owner only."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = [BROKER_SECRET.format(p) for p in broker_access.BROKER_USERS]
    wanted += [DATABASE_SECRET.format(p) for p in (*DATABASE_PRINCIPALS, "admin")]
    for name in wanted:
        path = directory / name
        if path.exists():
            continue
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
        click.echo(f"created {path}")


@access.command("database-roles")
@click.option(
    "--passwords-from",
    "secrets_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Set each role's password from DIR/postgres-<role> (see `stoppoc access secrets`).",
)
def database_roles(secrets_dir: Path | None) -> None:
    """Create or update the PostgreSQL roles (run with STOPPOC_DATABASE_URL of a database
    administrator): <namespace>_<service> owning its schema and nothing else, <namespace>_staff
    reading every schema, <namespace>_migrator acting only as a schema's owner. Idempotent."""
    settings = get_settings()
    passwords = None
    if secrets_dir is not None:
        passwords = {p: _read_secret(secrets_dir / DATABASE_SECRET.format(p)) for p in DATABASE_PRINCIPALS}

    async def go() -> list[str]:
        await db.ensure_database(settings.database_url)
        conn = await db.connect(settings.database_url)
        try:
            return await database_access.provision(conn, database_access.Roles(settings.namespace), SERVICES, passwords)
        finally:
            await conn.close()

    for line in run_async(go()) or ["up to date"]:
        click.echo(line)


def _read_secret(path: Path) -> str:
    try:
        return path.read_text().removesuffix("\n")
    except OSError as error:
        fail(f"cannot read the secret {path}: {error.strerror}", 2)
