"""Faults aimed at one test's services and nothing else: their broker connections closed by
the broker (found by the connection name ``stoppoc-<service>-<namespace>``), their database
backends terminated by the server (found by ``application_name`` in the test's database)."""

import asyncio

import asyncpg


async def rabbitmqctl(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "-q", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return out.decode()


def connection_name(service: str, namespace: str) -> str:
    return f"stoppoc-{service}-{namespace}"


async def broker_connections(service: str, namespace: str) -> list[str]:
    """The broker's ids of the connections of every instance of ``service``."""
    listing = await rabbitmqctl("list_connections", "pid", "client_properties")
    wanted = f'{{"connection_name","{connection_name(service, namespace)}"}}'
    return [line.split("\t", 1)[0] for line in listing.splitlines() if wanted in line]


async def cut_broker_connections(service: str, namespace: str) -> int:
    """Have the broker close the service's connections, as a network partition or a broker
    restart would. How many were closed."""
    connections = await broker_connections(service, namespace)
    for pid in connections:
        await rabbitmqctl("close_connection", pid, "stoppoc fault injection")
    return len(connections)


async def terminate_database_connections(database_url: str, service: str) -> int:
    """``pg_terminate_backend`` on the service's backends in this test's database only."""
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()",
            f"stoppoc-{service}",
        )
    finally:
        await conn.close()
