"""The outage tests' own PostgreSQL really goes away and comes back with its data."""

import asyncpg
import pytest

pytestmark = pytest.mark.integration


async def test_a_stopped_server_refuses_connections_and_keeps_its_data_when_started_again(stoppable_postgres):
    conn = await asyncpg.connect(stoppable_postgres.url)
    await conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
    await conn.close()

    stoppable_postgres.stop()
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await asyncpg.connect(stoppable_postgres.url, timeout=3)

    stoppable_postgres.start()
    conn = await asyncpg.connect(stoppable_postgres.url)
    assert await conn.fetchval("SELECT n FROM kept") == 7
    await conn.close()
