"""``stoppoc dlq list`` and ``stoppoc dlq replay``, run as an operator runs them: the CLI in a
subprocess, against a running service."""

import json

import aio_pika
import pytest

from stoppoc.services import registry
from stoppoc.shared import topology
from tests.contract_data import unique_id, wait_until
from tests.faults.probes import dead_letters, depth, stoppoc, take_without_ack
from tests.infrastructure import running

pytestmark = pytest.mark.integration


async def listed(settings) -> list[dict]:
    code, out = await stoppoc(settings, "dlq", "list", "payment", "--json")
    assert code == 0, out
    return json.loads(out)


async def test_dead_letters_are_listed_with_why_and_replayed_once_their_cause_is_gone(
    settings, client, names, database
):
    customer = unique_id("customer")
    credit = {"customer_id": customer, "amount": 1_000, "reference": unique_id("topup")}
    # A credit whose earlier delivery died with its consumer, and a body that is not even JSON.
    stranded = await client.send("payment.wallet.credit", credit)
    await take_without_ack(settings.amqp_url, names.queue("payment"))
    await client.publish(names.commands, "payment.wallet.credit", b"{not json", message_id="poison-1")
    dlq = names.dead_letter_queue("payment")
    strict = settings.model_copy(update={"max_deliveries": 1})
    async with running(strict, "payment"):
        await wait_until(lambda: _has(settings.amqp_url, dlq, 2), what="two dead letters")

        first, again = await listed(settings), await listed(settings)
        code, table = await stoppoc(settings, "dlq", "list", "payment")
        replay_code, replay_out = await stoppoc(settings, "dlq", "replay", "payment", "--id", stranded.id)
        credited = await client.wait_for("wallet.credited", lambda d: d["reference"] == credit["reference"])
        left = await listed(settings)

        # The same credit dead-lettered twice (its acknowledgement lost, say): replaying it is harmless.
        await _dead_letter_copy(settings.amqp_url, names, stranded)
        all_code, all_out = await stoppoc(settings, "dlq", "replay", "payment", "--all")
        await wait_until(lambda: _has(settings.amqp_url, dlq, 1), what="the poison back in the dead-letter queue")
        finally_left = await listed(settings)

    assert drop_ages(first) == drop_ages(again)  # listing consumes nothing
    by_id = {row["message_id"]: row for row in first}
    assert by_id[stranded.id]["error"] == "redelivery_limit"
    assert by_id[stranded.id]["attempts"] == 2
    assert by_id[stranded.id]["type"] == "stoppoc.payment.wallet.credit.v1"
    assert by_id[stranded.id]["original-exchange"] == names.commands
    assert by_id[stranded.id]["original-routing-key"] == "payment.wallet.credit"
    assert by_id["poison-1"]["error"] == "invalid_envelope"
    assert by_id["poison-1"]["body"] == {"size": 9, "readable": False, "problem": "not JSON", "prefix": "{not json"}
    assert by_id["poison-1"]["service"] == "payment" and by_id["poison-1"]["failed-at"]
    assert code == 0 and "redelivery_limit" in table and "invalid_envelope" in table

    assert replay_code == 0 and "1 replayed" in replay_out, replay_out
    assert credited.data["balance_after"] == 1_000
    assert [row["message_id"] for row in left] == ["poison-1"]

    assert all_code == 0 and "2 replayed" in all_out, all_out
    assert [(row["message_id"], row["error"]) for row in finally_left] == [("poison-1", "invalid_envelope")]
    assert await database.fetchval("SELECT balance FROM payment.wallets WHERE customer_id = $1", customer) == 1_000
    assert len(client.seen("wallet.credited")) == 1


async def test_replay_says_what_it_could_not_find_and_needs_a_choice(settings, client, names):
    await client.send("payment.wallet.credit", {"customer_id": "c", "amount": 1, "reference": "r"})  # declares it all

    unknown_code, unknown_out = await stoppoc(settings, "dlq", "replay", "payment", "--id", "no-such-id")
    bare_code, bare_out = await stoppoc(settings, "dlq", "replay", "payment")

    assert unknown_code == 1 and "no-such-id" in unknown_out
    assert bare_code == 2 and "--all" in bare_out


async def test_a_namespace_from_before_the_dead_letters_exchange_gets_it_and_dead_letters_through_it(settings, names):
    # What the previous version declared: the same queues and NS.dlx, but no NS.dead-letters.
    await topology.declare_at(settings.amqp_url, names, registry.topology())
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.exchange_delete(names.dead_letters)
        commands = await channel.get_exchange(names.commands)
        async with running(settings, "payment"):  # its start declares what is missing
            await commands.publish(aio_pika.Message(b"{not json", message_id="poison-1"), "payment.wallet.credit")
            [letter] = await dead_letters(settings.amqp_url, names, "payment")

    assert letter.message_id == "poison-1"
    assert letter.headers["x-stoppoc-error"] == "invalid_envelope"
    assert letter.exchange == names.dead_letters  # published by the service, on its own routing key
    assert letter.routing_key == names.queue("payment")


def drop_ages(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "age_seconds"} for row in rows]


async def _has(amqp_url: str, queue_name: str, count: int) -> bool:
    return await depth(amqp_url, queue_name) == count


async def _dead_letter_copy(amqp_url: str, names, envelope) -> None:
    """Put a copy of ``envelope`` into payment's dead-letter queue, as the consumer does."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        dlx = await channel.get_exchange(names.dead_letters)
        headers = {
            "x-stoppoc-service": "payment",
            "x-stoppoc-error": "retries_exhausted",
            "x-stoppoc-attempts": 5,
            "x-stoppoc-original-exchange": names.commands,
            "x-stoppoc-original-routing-key": "payment.wallet.credit",
        }
        await dlx.publish(
            aio_pika.Message(envelope.to_json(), message_id=envelope.id, headers=headers),
            routing_key=names.queue("payment"),
        )
