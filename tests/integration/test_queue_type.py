"""A namespace whose queues were declared classic (before quorum queues became the default) meets
a service that asks for quorum ones: a clear error naming the fix, in /health/ready and from
`stoppoc migrate`, and a service that stays up without consuming, not a crash loop."""

import asyncio
import os
import sys

import aio_pika
import pytest

from stoppoc.cli import runner
from stoppoc.services import registry
from stoppoc.shared import topology
from tests.e2e.processes import readiness

pytestmark = pytest.mark.integration


async def consumers(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        declared = await (await connection.channel()).declare_queue(queue, passive=True)
        return declared.declaration_result.consumer_count


async def test_a_classic_queue_stops_a_service_told_to_use_quorum_queues_with_the_fix_named(settings, names):
    await topology.declare_at(settings.amqp_url, names, registry.topology(), topology.QueueOptions("classic"))
    settings = settings.model_copy(update={"queue_type": "quorum"})  # STOPPOC_QUEUE_TYPE=quorum, said
    apps = runner.build(settings, ["payment"])
    async with runner.serving(settings.model_copy(update={"http_port": 0}), [a.runtime for a in apps]) as server:
        assert server is not None
        async with runner.running_apps(apps):
            status, body = await readiness(server.port)
            waiting = await consumers(settings.amqp_url, names.queue("payment"))
    code, output = await migrate(settings, STOPPOC_QUEUE_TYPE="quorum")

    assert status == 503
    consumer = body["services"]["payment"]["consumer"]
    assert not consumer["ok"]
    assert f"queue {names.queue('payment')} exists with type classic" in consumer["detail"]
    assert "STOPPOC_QUEUE_TYPE=classic" in consumer["detail"] and "rabbitmq" in consumer["detail"]
    assert body["services"]["payment"]["database"] == {"ok": True}
    assert waiting == 0  # up, but not taking messages
    assert code == 1
    assert "exists with type classic, but this service declares quorum" in output
    assert "Traceback" not in output


async def test_left_unset_the_queue_type_of_an_existing_namespace_is_used_as_it_is(settings, names):
    """An upgrade from classic queues keeps the system running: new queues would be quorum ones,
    existing ones are used as they are (with a warning), until an operator moves them."""
    await topology.declare_at(settings.amqp_url, names, registry.topology(), topology.QueueOptions("classic"))
    apps = runner.build(settings, ["payment"])
    async with runner.serving(settings.model_copy(update={"http_port": 0}), [a.runtime for a in apps]) as server:
        assert server is not None
        async with runner.running_apps(apps):
            status, body = await readiness(server.port)
            taking = await consumers(settings.amqp_url, names.queue("payment"))
    code, output = await migrate(settings)

    assert status == 200 and body["services"]["payment"]["consumer"] == {"ok": True}
    assert taking == 1
    assert code == 0, output
    assert await queue_type(settings.amqp_url, names.queue("payment")) == "classic"


async def queue_type(amqp_url: str, queue: str) -> str:
    """Declared as a quorum queue, a classic one is refused: that tells its type without rabbitmqctl."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        try:
            await channel.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"})
        except aio_pika.exceptions.ChannelPreconditionFailed:
            return "classic"
        return "quorum"


async def migrate(settings, **environment: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stoppoc.cli",
        "migrate",
        env={
            **os.environ,
            "STOPPOC_AMQP_URL": settings.amqp_url,
            "STOPPOC_DATABASE_URL": settings.database_url,
            "STOPPOC_NAMESPACE": settings.namespace,
            **environment,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()
