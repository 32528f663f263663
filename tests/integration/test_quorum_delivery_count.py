"""On a quorum queue the broker counts the deliveries that failed (``x-delivery-count``) and the
service takes the larger of that and its own count: deliveries the service never got to count
(its instances died before writing them) still bring a message to the limit, and the service
dead-letters it itself, with its reasons, before the broker's own limit would."""

import pytest

from stoppoc.cli.dlq import peek
from tests.contract_data import unique_id, wait_until
from tests.faults.probes import depth, take_without_ack
from tests.infrastructure import running

pytestmark = pytest.mark.integration


async def test_deliveries_the_broker_counted_bring_a_message_to_the_services_limit(settings, client, names, database):
    customer = unique_id("customer")
    credit = {"customer_id": customer, "amount": 1_000, "reference": unique_id("topup")}
    sent = await client.send("payment.wallet.credit", credit)
    for _ in range(settings.max_deliveries):  # five deliveries that died before counting anything
        assert await take_without_ack(settings.amqp_url, names.queue("payment")) == sent.id

    async with running(settings, "payment"):
        await wait_until(lambda: depth(settings.amqp_url, names.dead_letter_queue("payment")), what="a dead letter")
    [dead] = await peek(settings.amqp_url, names, "payment")

    assert dead.message_id == sent.id
    assert dead.headers["error"] == "redelivery_limit"
    assert dead.headers["attempts"] == settings.max_deliveries + 1  # the broker's count, not the service's 2
    assert dead.headers["service"] == "payment"  # dead-lettered by the service, with its reasons
    assert await database.fetchval("SELECT deliveries FROM payment.redeliveries") == 2
    assert await database.fetchval("SELECT count(*) FROM payment.ledger WHERE customer_id = $1", customer) == 0
