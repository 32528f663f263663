"""Fixtures shared by every tier.

Each test gets a fresh database, copied from a template migrated once per session
(``CREATE DATABASE ... TEMPLATE``), and a unique broker namespace whose exchanges and
queues are deleted afterwards, so test runs can share one RabbitMQ and one PostgreSQL.
"""

import asyncpg
import pytest

from stoppoc.services import registry
from stoppoc.services.registry import SERVICES
from stoppoc.shared import db, topology
from stoppoc.shared.client import ContractClient
from stoppoc.shared.settings import Settings
from tests import infrastructure
from tests.infrastructure import unique


@pytest.fixture(scope="session")
def amqp_url():
    try:
        with infrastructure.rabbitmq_url() as url:
            yield url
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def postgres_url():
    try:
        with infrastructure.postgres_url() as url:
            yield url
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


async def _drop(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def template_database(postgres_url):
    name = unique("stoppoc_template_")
    url = infrastructure.with_database(postgres_url, name)
    await db.ensure_database(url)
    conn = await asyncpg.connect(url)
    try:
        for service in SERVICES:
            await db.migrate(conn, service, f"stoppoc.services.{service}")
    finally:
        await conn.close()
    yield name
    await _drop(postgres_url, name)


@pytest.fixture
async def database_url(postgres_url, template_database):
    name = unique("stoppoc_test_")
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    finally:
        await admin.close()
    yield infrastructure.with_database(postgres_url, name)
    await _drop(postgres_url, name)


@pytest.fixture
async def names(amqp_url):
    names = topology.Names(unique("test"))
    yield names
    await topology.delete(amqp_url, names, SERVICES)


@pytest.fixture
def settings(amqp_url, database_url, names) -> Settings:
    return Settings(
        amqp_url=amqp_url,
        database_url=database_url,
        namespace=names.namespace,
        relay_poll_seconds=0.2,
        retry_base_seconds=0.05,
        max_attempts=3,
        sweep_seconds=0.2,
        funds_wait_seconds=0,  # tests that wait for a top-up set their own
    )


@pytest.fixture
async def client(settings, names):
    async with ContractClient(settings.amqp_url, names, source="/tests/portal", declare=registry.topology()) as client:
        yield client


@pytest.fixture
async def database(database_url):
    """A connection to the test database, for reading the services' own tables."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
def stoppable_postgres():
    """A PostgreSQL server of this test's own that it may stop and start (tests/stoppable_postgres.py)."""
    from tests.stoppable_postgres import stoppable_postgres as server

    try:
        with server() as running:
            yield running
    except LookupError as reason:
        pytest.skip(str(reason))


@pytest.fixture
async def broker_users(amqp_url, names):
    """The namespace's broker users, one per service and client, on the shared broker; deleted
    after the test (tests/broker_users.py)."""
    from tests.broker_users import NoRabbitmqctl
    from tests.broker_users import broker_users as users_of

    try:
        async with users_of(amqp_url, names) as users:
            yield users
    except NoRabbitmqctl as reason:
        pytest.skip(str(reason))


@pytest.fixture
def rabbit_cluster():
    """A three-node RabbitMQ cluster of this test's own (tests/rabbit_cluster.py), on its own ports."""
    from tests.rabbit_cluster import available
    from tests.rabbit_cluster import rabbit_cluster as cluster

    if reason := available():
        pytest.skip(reason)
    with cluster(3) as running:
        yield running
