"""A message whose handling kills its service, again and again, is not delivered forever: past
``STOPPOC_MAX_DELIVERIES`` it goes to the dead-letter queue with ``redelivery_limit``, the
service goes on with the rest, and an operator replays it once the cause is gone."""

import pytest

from stoppoc.cli.dlq import peek
from tests.contract_data import unique_id, wait_until
from tests.faults.probes import depth, lock_wallet, stoppoc, waiting_on_locks

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


async def test_a_message_that_kills_its_service_every_time_is_dead_lettered_after_the_limit(
    settings, services, client, database, names
):
    services.settings = settings.model_copy(update={"max_deliveries": 3})
    await services.start("payment")
    customer = unique_id("customer")
    credit = {"customer_id": customer, "amount": 1_000, "reference": unique_id("topup")}
    await client.send("payment.wallet.credit", {**credit, "reference": unique_id("opening")})
    await client.wait_for("wallet.credited")
    # Its handling never finishes (the wallet is locked) and each time the service is killed.
    holder = await lock_wallet(settings.database_url, customer)
    deadly = await client.send("payment.wallet.credit", credit)
    dlq = names.dead_letter_queue("payment")

    kills, started = 0, None
    while True:

        async def in_hand_or_dead_lettered(started=started) -> bool:
            # In hand: the running instance (connected since it started) waits on the lock.
            return await waiting_on_locks(database, "payment", started) > 0 or await depth(settings.amqp_url, dlq) > 0

        await wait_until(in_hand_or_dead_lettered, what="the message in hand or dead-lettered")
        if await depth(settings.amqp_url, dlq):
            break
        await services.kill("payment")
        kills += 1
        started = await database.fetchval("SELECT clock_timestamp()")
        await services.restart("payment")

    other = {"customer_id": unique_id("customer"), "amount": 5, "reference": unique_id("topup")}
    await client.send("payment.wallet.credit", other)
    await client.wait_for("wallet.credited", lambda d: d["reference"] == other["reference"])  # it goes on
    [dead] = await peek(settings.amqp_url, names, "payment")
    # The cause is gone; the operator replays the message.
    await holder.execute("ROLLBACK")
    await holder.close()
    code, out = await stoppoc(settings, "dlq", "replay", "payment", "--id", deadly.id)
    credited = await client.wait_for("wallet.credited", lambda d: d["reference"] == credit["reference"])

    assert kills == 3  # deliveries 1, 2 and 3 were each killed; the 4th was dead-lettered
    assert dead.message_id == deadly.id
    assert (dead.headers["error"], dead.headers["attempts"]) == ("redelivery_limit", 4)
    assert code == 0, out
    assert credited.data["balance_after"] == 2_000
    assert len(client.seen("wallet.credited", lambda d: d["reference"] == credit["reference"])) == 1
