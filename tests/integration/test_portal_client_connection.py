"""The portal's client keeps its connection whatever lands in its reply queue: a header nested
deeper than pamqp can recurse would otherwise close it (and every wait on it) at once."""

import asyncio
import sys
from datetime import UTC, datetime

from stoppoc.client import StopPocClient
from stoppoc.contract.commands import StopPocRequest
from tests.contract_data import publish_event, unique_id, wait_until
from tests.faults.probes import depth


async def test_a_header_nested_too_deep_on_the_reply_queue_leaves_the_client_waiting_and_answered(
    settings, client, names
):
    request = StopPocRequest(
        request_id=unique_id("request"),
        customer_id=unique_id("customer"),
        cluster_id=unique_id("cluster"),
        usage_cycle_months=3,
        auto_renew=False,
    )
    async with StopPocClient(settings.amqp_url, names.namespace) as portal:
        waiting = asyncio.create_task(portal.stop_poc(request, timeout=30))
        # The request is in inventory's queue (nobody runs it here), so the client is waiting.
        await wait_until(lambda: _holds_one(settings, names.queue("inventory")), what="the stop request sent")
        await _publish_deep_header(settings.amqp_url, portal._reply_queue.name)
        await publish_event(
            client,
            "cluster.poc_stopped",
            {
                "request_id": request.request_id,
                "customer_id": request.customer_id,
                "cluster_id": request.cluster_id,
                "rounds": 1,
                "stopped_at": datetime.now(UTC).isoformat(),
            },
        )
        outcome = await waiting
    assert outcome.succeeded and outcome.routing_key == "cluster.poc_stopped"


# Another process publishes it: pamqp encodes a table by recursion, and a limit raised for that in
# this process would let the client's own decoding recurse too.
_PUBLISHER = """
import asyncio, sys
import aio_pika

async def main(url, queue):
    table = {}
    for _ in range(3_000):
        table = {"": table}
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(aio_pika.Message(b"{}", headers={"x-deep": table}), routing_key=queue)

sys.setrecursionlimit(20_000)
asyncio.run(main(*sys.argv[1:]))
"""


async def _publish_deep_header(amqp_url: str, queue: str) -> None:
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", _PUBLISHER, amqp_url, queue)
    assert await asyncio.wait_for(process.wait(), 30) == 0


async def _holds_one(settings, queue: str) -> bool:
    return await depth(settings.amqp_url, queue) == 1
