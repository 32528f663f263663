"""Redeliveries are counted outside the handler's transaction, and a message delivered more
than ``max_deliveries`` times is dead-lettered with ``redelivery_limit`` rather than handled
again. (tests/faults/test_crash_loop.py shows it against a real crash loop, kill -9 after kill -9.)"""

import pytest

from stoppoc.cli.dlq import peek
from tests.contract_data import unique_id, wait_until
from tests.faults.probes import depth, take_without_ack
from tests.infrastructure import running

pytestmark = pytest.mark.integration


def credit_data(customer_id: str, amount: int) -> dict:
    return {"customer_id": customer_id, "amount": amount, "reference": unique_id("topup")}


async def test_a_redelivery_past_the_limit_is_dead_lettered_with_its_count_and_not_handled(
    settings, client, names, database
):
    customer = unique_id("customer")
    sent = await client.send("payment.wallet.credit", credit_data(customer, 1_000))
    assert await take_without_ack(settings.amqp_url, names.queue("payment")) == sent.id
    once = settings.model_copy(update={"max_deliveries": 1})
    async with running(once, "payment"):
        await wait_until(lambda: depth(settings.amqp_url, names.dead_letter_queue("payment")), what="a dead letter")
    [dead] = await peek(settings.amqp_url, names, "payment")

    assert dead.message_id == sent.id
    assert dead.headers["error"] == "redelivery_limit"
    assert dead.headers["attempts"] == 2  # the delivery that died, and this one
    assert dead.headers["service"] == "payment"
    assert dead.headers["original-routing-key"] == "payment.wallet.credit"
    assert "STOPPOC_MAX_DELIVERIES=1" in dead.headers["detail"]
    assert await database.fetchval("SELECT count(*) FROM payment.ledger WHERE customer_id = $1", customer) == 0
    assert not client.seen("wallet.credited")


async def test_a_redelivery_within_the_limit_is_handled_and_first_deliveries_are_not_counted(
    settings, client, names, database
):
    customer = unique_id("customer")
    redelivered = await client.send("payment.wallet.credit", credit_data(customer, 1_000))
    await take_without_ack(settings.amqp_url, names.queue("payment"))
    fresh = await client.send("payment.wallet.credit", credit_data(customer, 2_000))
    async with running(settings, "payment"):
        await client.wait_for("wallet.credited", lambda d: d["balance_after"] == 3_000)

    counted = await database.fetch("SELECT message_id, deliveries FROM payment.redeliveries")
    assert [tuple(row) for row in counted] == [(redelivered.id, 2)]
    assert fresh.id not in {row["message_id"] for row in counted}
    assert await depth(settings.amqp_url, names.dead_letter_queue("payment")) == 0


async def test_a_handled_message_redelivered_past_the_limit_is_dropped_not_dead_lettered(
    settings, client, names, database
):
    customer = unique_id("customer")
    data = credit_data(customer, 1_000)
    once_in_order = settings.model_copy(update={"max_deliveries": 1, "prefetch": 1})
    async with running(once_in_order, "payment"):
        first = await client.send("payment.wallet.credit", data)
        await client.wait_for("wallet.credited")
    # The same message again (an acknowledgement lost, say), and delivered twice at that.
    await client.send("payment.wallet.credit", data, message_id=first.id)
    await take_without_ack(settings.amqp_url, names.queue("payment"))
    marker = await client.send("payment.wallet.credit", credit_data(customer, 7))
    async with running(once_in_order, "payment"):
        await client.wait_for("wallet.credited", lambda d: d["reference"] == marker.data["reference"])

    assert await database.fetchval("SELECT deliveries FROM payment.redeliveries WHERE message_id = $1", first.id) == 2
    assert await depth(settings.amqp_url, names.dead_letter_queue("payment")) == 0
    assert await database.fetchval("SELECT balance FROM payment.wallets WHERE customer_id = $1", customer) == 1_007
