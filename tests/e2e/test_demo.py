"""The README's first command: ``stoppoc demo`` converts a sample cluster and exits 0."""

import asyncio
import os
import sys

import asyncpg
import pytest

from tests.infrastructure import with_database

pytestmark = pytest.mark.e2e


@pytest.fixture
async def demo_environment(amqp_url, postgres_url, names):
    database = f"stoppoc_demo_{names.namespace}"
    yield {
        **os.environ,
        "STOPPOC_AMQP_URL": amqp_url,
        "STOPPOC_DATABASE_URL": with_database(postgres_url, database),
        "STOPPOC_NAMESPACE": names.namespace,
    }
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


async def test_the_demo_converts_its_sample_cluster_and_exits_zero(demo_environment):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stoppoc.cli",
        "demo",
        "--timeout",
        "60",
        env=demo_environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(process.communicate(), 180))[0].decode()

    assert process.returncode == 0, output
    assert "POC option is off" in output
    assert "cluster.poc_stopped" in output
    # The summary leaves the load balancer and the snapshot untouched.
    assert output.count("untouched") == 2, output


async def test_the_demo_says_in_one_line_when_the_broker_cannot_be_reached(demo_environment):
    environment = {**demo_environment, "STOPPOC_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stoppoc.cli",
        "demo",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 3
    assert err.decode().strip().startswith("stoppoc: cannot reach RabbitMQ")
    assert len(err.decode().strip().splitlines()) == 1
