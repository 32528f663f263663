"""A portal developer's commands: ``stoppoc quote``, ``request-stop``, ``wallet credit`` and
``coupons upsert`` in a subprocess, through the portal's client, against running services."""

import asyncio

import aio_pika
import pytest

from tests.cli import stoppoc
from tests.contract_data import SampleCluster, publish_event, unique_id, wait_until
from tests.faults.probes import depth
from tests.infrastructure import running

pytestmark = pytest.mark.integration


async def test_a_cluster_is_quoted_and_stopped_from_the_command_line(settings, client, database):
    cluster = SampleCluster()
    coupon = unique_id("welcome").replace("-", "")
    async with running(settings, "inventory", "checkout", "payment"):
        await cluster.register(client)
        reference = unique_id("topup")
        credited = await stoppoc(
            settings, "wallet", "credit", cluster.customer_id, "50000000", "--reference", reference
        )
        await client.wait_for("wallet.credited", lambda d: d["reference"] == reference)
        upserted = await stoppoc(settings, "coupons", "upsert", coupon, "--kind", "percent", "--value", "10")
        await wait_until(lambda: coupon_known(database, coupon.upper()), what="the coupon in checkout")
        args = ("--customer", cluster.customer_id, "--cluster", cluster.cluster_id, "--cycle", "3", "--coupon", coupon)
        quoted = await stoppoc(settings, "quote", *args, "--json")
        quoted_table = await stoppoc(settings, "quote", *args)
        total = str(quoted.json()["total"])
        stopped = await stoppoc(
            settings, "request-stop", *args, "--auto-renew", "--expected-total", total, "--wait", "60", "--json"
        )
        again = await stoppoc(settings, "request-stop", *args, "--wait", "60")
        unknown = await stoppoc(
            settings, "quote", "--customer", "c", "--cluster", "no-such-cluster", "--cycle", "3", "--json"
        )

    assert credited.code == 0 and upserted.code == 0, credited.err + upserted.err
    quote = quoted.json()
    assert quoted.code == 0 and quote["wallet_balance"] == 50_000_000 and quote["wallet_covers"]
    assert sorted(line["resource_id"] for line in quote["lines"]) == cluster.convertible_ids
    assert quote["discount"] == sum(line["coupon_discount"] for line in quote["lines"]) > 0
    assert quoted_table.code == 0 and f"total {quote['total']:,} VND" in quoted_table.out

    assert stopped.code == 0, stopped.err
    final = stopped.json()
    assert final["type"] == "stoppoc.cluster.poc_stopped.v1" and final["data"]["cluster_id"] == cluster.cluster_id
    order = await client.wait_for("order.created", lambda d: d["request_id"] == final["data"]["request_id"])
    assert order.data["total"] == quote["total"] and order.data["coupon_code"] == coupon.upper()

    assert again.code == 1 and again.out.startswith("stop_poc.rejected:") and "cluster_not_poc" in again.out
    assert unknown.code == 1 and unknown.json()["reason"] == "cluster_not_found"


async def test_request_stop_wait_treats_completed_as_final_and_says_failed_rejected_and_timeout_apart(
    settings, client, names
):
    """No service runs: the test answers as inventory would, once the request is in its queue."""
    cluster = SampleCluster()

    async def press_and_answer(outcome: str | None, data: dict) -> tuple:
        request_id = unique_id("request")
        args = ("--customer", cluster.customer_id, "--cluster", cluster.cluster_id, "--cycle", "1")
        waiting = asyncio.create_task(
            stoppoc(
                settings, "request-stop", *args, "--request-id", request_id, "--wait", "2" if outcome is None else "60"
            )
        )
        await wait_until(lambda: queued(settings, names.queue("inventory")), what="the request in inventory's queue")
        await drain(settings, names.queue("inventory"))
        if outcome:
            await publish_event(client, outcome, {"request_id": request_id, **data})
        return await waiting

    common = {"customer_id": cluster.customer_id, "cluster_id": cluster.cluster_id}
    completed = await press_and_answer(
        "stop_poc.completed",
        {
            **common,
            "rounds": 1,
            "converted_resource_ids": ["a"],
            "poc_remaining_resource_ids": ["b"],
            "completed_at": "2026-01-01T00:00:00Z",
        },
    )
    failed = await press_and_answer(
        "stop_poc.failed", {**common, "round": 1, "reason": "insufficient_funds", "detail": "short by 5"}
    )
    rejected = await press_and_answer("stop_poc.rejected", {**common, "reason": "cluster_not_found", "detail": "-"})
    timed_out = await press_and_answer(None, {})
    usage = await stoppoc(settings, "request-stop", "--customer", "c", "--cluster", "k", "--cycle", "0")
    unreachable = await stoppoc(
        settings.model_copy(update={"amqp_url": "amqp://guest:guest@127.0.0.1:1/"}),
        *("request-stop", "--customer", "c", "--cluster", "k", "--cycle", "1"),
    )
    no_such_namespace = await stoppoc(
        settings.model_copy(update={"namespace": unique_id("nowhere")}),
        *("quote", "--customer", "c", "--cluster", "k", "--cycle", "1"),
    )

    assert completed.code == 0 and completed.out.startswith("stop_poc.completed:"), completed
    assert "poc_remaining_resource_ids=['b']" in completed.out
    assert failed.code == 1 and "insufficient_funds" in failed.out
    assert rejected.code == 1 and "cluster_not_found" in rejected.out
    assert timed_out.code == 4 and "did not end within 2s" in timed_out.err
    assert usage.code == 2 and "greater than 0" in usage.err
    assert unreachable.code == 3 and "cannot reach RabbitMQ" in unreachable.err
    assert no_such_namespace.code == 3 and "stoppoc migrate" in no_such_namespace.err


async def coupon_known(database, code: str) -> bool:
    return bool(await database.fetchval("SELECT count(*) FROM checkout.coupons WHERE code = $1", code))


async def queued(settings, queue_name: str) -> bool:
    return await depth(settings.amqp_url, queue_name) == 1


async def drain(settings, queue_name: str) -> None:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        await (await channel.declare_queue(queue_name, passive=True)).purge()
