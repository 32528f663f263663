"""Least privilege in a real PostgreSQL: roles unique to the test module (dropped after), made by
``stoppoc access database-roles``, migrations applied by the migrator as each schema's owner, and
each service's role kept out of the others' schemas."""

import subprocess
import sys
from dataclasses import dataclass

import asyncpg
import pytest

from stoppoc.cli.runner import migrate_all
from stoppoc.services.registry import SERVICES
from stoppoc.shared import database_access, db
from stoppoc.shared.database_access import Roles
from stoppoc.shared.settings import Settings
from tests.contract_data import SampleCluster, unique_id
from tests.infrastructure import running, unique, with_database

pytestmark = pytest.mark.integration


def as_role(url: str, role: str) -> str:
    """The URL for another role (the test server trusts local connections: no password)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{role}@{rest.rsplit('@', 1)[-1]}"


def stoppoc(*arguments: str, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stoppoc.cli", *arguments],
        env={"PATH": "", **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass(frozen=True)
class Provisioned:
    url: str  # the administrator's
    roles: Roles
    applied: dict[str, list[str]]

    def as_role(self, principal: str) -> str:
        return as_role(self.url, self.roles.of(principal))


@pytest.fixture(scope="module")
async def provisioned(postgres_url, tmp_path_factory):
    """An empty database given its roles by `stoppoc access database-roles` (roles unique to this
    module), then migrated by the migrator; the database and the roles are dropped after."""
    roles = Roles(unique("access"))
    url = with_database(postgres_url, unique("stoppoc_access_"))
    await db.ensure_database(url)
    secrets = tmp_path_factory.mktemp("secrets")
    try:
        assert stoppoc("access", "secrets", str(secrets)).returncode == 0
        done = stoppoc(
            "access", "database-roles", "--passwords-from", str(secrets), STOPPOC_DATABASE_URL=url,
            STOPPOC_NAMESPACE=roles.namespace,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        applied = await migrate_all(Settings(database_url=as_role(url, roles.of("migrator"))))
        yield Provisioned(url, roles, applied)
    finally:
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[-1]}" WITH (FORCE)')
            for principal in [*SERVICES, database_access.STAFF, database_access.MIGRATOR]:
                await admin.execute(f'DROP ROLE IF EXISTS "{roles.of(principal)}"')
        finally:
            await admin.close()


async def test_migrations_by_the_migrator_leave_each_schema_and_its_tables_to_its_service(provisioned):
    assert all(provisioned.applied[service] for service in SERVICES)
    conn = await asyncpg.connect(provisioned.url)
    try:
        owners = await conn.fetch(
            "SELECT schemaname, array_agg(DISTINCT tableowner) AS owners FROM pg_tables"
            " WHERE schemaname = any($1::text[]) GROUP BY schemaname",
            list(SERVICES),
        )
        password = await conn.fetchval(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1", provisioned.roles.of("payment")
        )
    finally:
        await conn.close()
    assert {row["schemaname"]: row["owners"] for row in owners} == {s: [provisioned.roles.of(s)] for s in SERVICES}
    assert password.startswith("SCRAM-SHA-256$4096:")  # set as a verifier, never sent in clear

    # The migrator alone (without acting as an owner) can neither read nor create anything.
    alone = await asyncpg.connect(provisioned.as_role("migrator"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await alone.fetch("SELECT * FROM payment.wallets")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await alone.execute("CREATE SCHEMA elsewhere")
    finally:
        await alone.close()


async def test_a_service_role_cannot_read_or_write_another_services_schema(provisioned):
    payment = await asyncpg.connect(provisioned.as_role("payment"))
    try:
        await payment.execute("INSERT INTO payment.wallets (customer_id, balance) VALUES ('c', 5)")  # its own
        for statement in (
            "SELECT * FROM inventory.clusters",
            "SELECT * FROM checkout.orders",
            "INSERT INTO notifier.notifications (customer_id) VALUES ('c')",
            "UPDATE checkout.coupons SET value = 1",
            "CREATE TABLE public.stash (x int)",
            "CREATE SCHEMA stash",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await payment.execute(statement)
    finally:
        await payment.close()


async def test_staff_read_every_schema_through_the_cli_and_write_nothing(provisioned, settings, client, names):
    # The services run as their own roles: the roles are enough for a conversion.
    run_as = {s: settings.model_copy(update={"database_url": provisioned.as_role(s)}) for s in SERVICES}
    cluster = SampleCluster()
    async with (
        running(run_as["inventory"], "inventory"),
        running(run_as["checkout"], "checkout"),
        running(run_as["payment"], "payment"),
        running(run_as["notifier"], "notifier"),
    ):
        await cluster.register(client)
        credit = {"customer_id": cluster.customer_id, "amount": 50_000_000, "reference": unique_id("t")}
        await client.send("payment.wallet.credit", credit)
        request = cluster.stop_request()
        await client.send("inventory.stop_poc.request", request)
        assert (await client.wait_for_outcome(request["request_id"])).routing_key == "cluster.poc_stopped"

    staff = provisioned.as_role("staff")
    environment = {"STOPPOC_DATABASE_URL": staff, "STOPPOC_NAMESPACE": names.namespace}
    shown = stoppoc("wallet", "show", cluster.customer_id, "--json", **environment)
    assert shown.returncode == 0, shown.stderr
    assert cluster.customer_id in shown.stdout
    assert stoppoc("clusters", "show", cluster.cluster_id, "--json", **environment).returncode == 0
    assert stoppoc("orders", "list", "--json", **environment).returncode == 0

    conn = await asyncpg.connect(staff)
    try:
        for statement in ("UPDATE payment.wallets SET balance = 0", "DELETE FROM inventory.clusters"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()


async def test_role_passwords_work_with_scram_authentication(stoppable_postgres, tmp_path):
    """On a server of the test's own that asks every role but the administrator for a SCRAM
    password: the passwords `database-roles` sets (as verifiers) open the door, others do not."""
    server = stoppable_postgres
    data = getattr(server, "data", None)
    if data is None:
        pytest.skip("needs a local server whose authentication the test can configure")
    (data / "pg_hba.conf").write_text(
        "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
    )
    server.stop()
    server.start()
    assert stoppoc("access", "secrets", str(tmp_path)).returncode == 0
    admin_url = server.url.rsplit("/", 1)[0] + "/stoppoc"
    done = stoppoc(
        "access",
        "database-roles",
        "--passwords-from",
        str(tmp_path),
        STOPPOC_DATABASE_URL=admin_url,
        STOPPOC_NAMESPACE="stoppoc",
    )
    assert done.returncode == 0, done.stderr
    assert "role stoppoc_payment: password set" in done.stdout

    password = (tmp_path / "postgres-payment").read_text()
    payment = await asyncpg.connect(admin_url.replace("postgres@", f"stoppoc_payment:{password}@"))
    assert await payment.fetchval("SELECT current_user") == "stoppoc_payment"
    await payment.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(admin_url.replace("postgres@", "stoppoc_payment:not-the-password@"))
    migrator = (tmp_path / "postgres-migrator").read_text()
    with pytest.raises(asyncpg.InvalidPasswordError):  # one role's password is not another's
        await asyncpg.connect(admin_url.replace("postgres@", f"stoppoc_payment:{migrator}@"))
