"""docs/operations.md's runbook, as an operator follows it: a conversion broken on purpose (its
payment handler forced to fail) next to a poison message, found with ``conversions stuck``, read
with ``dlq show`` and ``conversions show``, replayed once the cause is gone; the customer is
charged once, however often the dead letter is replayed."""

import aio_pika
import pytest

from tests.cli import stoppoc
from tests.contract_data import SampleCluster, wait_until
from tests.faults.probes import depth, fund

pytestmark = pytest.mark.e2e


async def test_a_stuck_conversion_is_found_read_replayed_and_charged_once(services, client, names, settings, database):
    await services.start()
    cluster = SampleCluster()
    await cluster.register(client)
    await fund(client, cluster.customer_id, 50_000_000)
    # Payment cannot record this customer's payments: its handler fails and it dead-letters the order.
    await database.execute(
        f"ALTER TABLE payment.payments ADD CONSTRAINT broken_on_purpose CHECK (customer_id <> '{cluster.customer_id}')"
    )
    request = cluster.stop_request(usage_cycle_months=3)
    await client.send("inventory.stop_poc.request", request)
    order = await client.wait_for("order.created", lambda d: d["request_id"] == request["request_id"])
    await client.publish(names.commands, "inventory.stop_poc.request", b"[" * 100_000, message_id="poison-deep")
    await wait_until(lambda: dead_lettered(settings, names, "payment"), what="the order dead-lettered", timeout=30)
    await wait_until(lambda: dead_lettered(settings, names, "inventory"), what="the poison dead-lettered", timeout=30)

    # Find.
    stuck = await stoppoc(settings, "conversions", "stuck", "--older-than", "0s", "--json")
    assert stuck.code == 1, stuck.err
    [found] = [row for row in stuck.json() if row["request_id"] == request["request_id"]]
    assert found["waiting_on"] == f"payment: order {order.data['order_id']} not taken (order.created)"
    [letter_id] = found["dead_letter_ids"]["payment"]
    in_progress = await stoppoc(
        settings, "conversions", "list", "--customer", cluster.customer_id, "--state", "in_progress", "--json"
    )
    assert [c["request_id"] for c in in_progress.json()] == [request["request_id"]]
    overview = {row["queue"]: row for row in (await stoppoc(settings, "dlq", "list", "--json")).json()}
    assert overview[names.dead_letter_queue("payment")]["by_reason"] == {"handler_error": 1}
    assert overview[names.dead_letter_queue("inventory")]["by_reason"] == {"invalid_envelope": 1}

    # Inspect.
    shown = await stoppoc(settings, "dlq", "show", "payment", letter_id, "--json")
    assert shown.code == 0 and shown.json()["error"] == "handler_error"
    assert "broken_on_purpose" in shown.json()["detail"]
    assert shown.json()["body"]["json"]["data"]["order_id"] == order.data["order_id"]
    story = await stoppoc(settings, "conversions", "show", request["request_id"], "--json")
    assert story.code == 0 and story.json()["conversion"]["status"] == "in_progress"
    assert [o["order_id"] for o in story.json()["orders"]] == [order.data["order_id"]] and story.json()[
        "payments"
    ] == []
    assert [x["id"] for x in story.json()["dead_letters"]["payment"]] == [letter_id]
    poison = await stoppoc(settings, "dlq", "show", "inventory", "poison-deep")
    assert poison.code == 0 and "unreadable (JSON nested too deep), 100,000 bytes" in poison.out

    # Fix the cause, replay; a second copy of the dead letter replayed later changes nothing.
    await database.execute("ALTER TABLE payment.payments DROP CONSTRAINT broken_on_purpose")
    dead = await take_copy(settings, names)
    replayed = await stoppoc(settings, "dlq", "replay", "payment", "--id", letter_id)
    assert replayed.code == 0 and "1 replayed" in replayed.out, replayed.out + replayed.err
    outcome = await client.wait_for_outcome(request["request_id"])
    assert outcome.routing_key == "cluster.poc_stopped"
    await put_back(settings, names, dead)
    again = await stoppoc(settings, "dlq", "replay", "payment", "--all")
    assert again.code == 0 and "1 replayed" in again.out
    await wait_until(lambda: queue_empty(settings, names.queue("payment")), what="the copy handled")

    debits = await database.fetch(
        "SELECT amount FROM payment.ledger WHERE customer_id = $1 AND kind = 'debit'", cluster.customer_id
    )
    assert [row["amount"] for row in debits] == [-order.data["total"]]
    assert len(client.seen("payment.settled", lambda d: d["order_id"] == order.data["order_id"])) == 1
    still = await stoppoc(
        settings, "conversions", "list", "--customer", cluster.customer_id, "--state", "in_progress", "--json"
    )
    assert still.code == 0 and still.json() == []
    ended = await stoppoc(settings, "conversions", "show", request["request_id"], "--json")
    assert ended.json()["conversion"]["status"] == "stopped"
    assert [p["status"] for p in ended.json()["payments"]] == ["settled"] and ended.json()["dead_letters"] == {}

    # The poison is read, then purged; then all is well.
    assert (await stoppoc(settings, "conversions", "stuck", "--older-than", "0s")).code == 0
    assert (await stoppoc(settings, "status")).code == 1
    purged = await stoppoc(settings, "dlq", "purge", "inventory", "--id", "poison-deep", "--yes")
    assert purged.code == 0 and "1 purged" in purged.out
    await wait_until(lambda: all_is_well(settings), what="status all well", timeout=30)


async def dead_lettered(settings, names, service: str) -> bool:
    return await depth(settings.amqp_url, names.dead_letter_queue(service)) == 1


async def queue_empty(settings, queue_name: str) -> bool:
    return await depth(settings.amqp_url, queue_name) == 0


async def all_is_well(settings) -> bool:
    return (await stoppoc(settings, "status")).code == 0


async def take_copy(settings, names) -> aio_pika.Message:
    """A copy of payment's dead letter, as a lost acknowledgement would leave a second one."""
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(names.dead_letter_queue("payment"), passive=True)
        message = await queue.get(no_ack=False, timeout=5)
        return aio_pika.Message(message.body, headers=dict(message.headers), message_id=message.message_id)


async def put_back(settings, names, message: aio_pika.Message) -> None:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        dlx = await channel.get_exchange(names.dlx)
        await dlx.publish(message, routing_key=names.queue("payment"))
