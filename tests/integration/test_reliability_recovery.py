"""A service recovers by itself, without a restart, from a broker connection the broker closed
and from database connections the server terminated: it consumes again, and its outbox relay
publishes what was written while the broker was away."""

import pytest

from stoppoc.contract import validate_data
from stoppoc.contract.envelope import new_envelope
from stoppoc.services.payment import handlers as payment_handlers
from stoppoc.services.payment.queries import QUERIES as PAYMENT
from stoppoc.shared import db
from stoppoc.shared.settings import Settings
from stoppoc.shared.unit_of_work import UnitOfWork
from tests.contract_data import unique_id, wait_until
from tests.faults.injection import cut_broker_connections, terminate_database_connections
from tests.faults.probes import depth, lock_wallet, waiting_on_locks
from tests.infrastructure import running

pytestmark = pytest.mark.integration


async def credit(client, customer_id: str, amount: int) -> str:
    reference = unique_id("topup")
    await client.send("payment.wallet.credit", {"customer_id": customer_id, "amount": amount, "reference": reference})
    return reference


def with_reference(reference: str):
    return lambda d: d["reference"] == reference


async def write_through_the_handler(database_url: str, routing_key: str, data: dict) -> None:
    """Run payment's own handler for a message in a transaction of the test's, as the service
    does (a periodic task, say) while its broker connection is away: state, inbox and outbox."""
    envelope = new_envelope(routing_key, data, source="/tests/away")
    handler = payment_handlers.registry.resolve(envelope)
    conn = await db.connect(database_url, "payment")
    try:
        async with conn.transaction():
            uow = UnitOfWork(conn, PAYMENT.bind(conn), "/stoppoc/payment", Settings(), envelope)
            await handler.fn(validate_data(handler.model, envelope.data), uow)
            await uow.flush()
    finally:
        await conn.close()


async def test_a_closed_broker_connection_is_reopened_and_what_was_written_meanwhile_is_published(
    settings, client, database
):
    customer, other = unique_id("customer"), unique_id("customer")
    async with running(settings, "payment"):
        await client.wait_for("wallet.credited", with_reference(await credit(client, customer, 1_000)))
        holder = await lock_wallet(settings.database_url, customer)
        in_hand = await credit(client, customer, 2_000)
        await wait_until(lambda: waiting_on_locks(database, "payment"), what="payment waiting on the wallet")

        assert await cut_broker_connections("payment", settings.namespace) == 1
        away = {"customer_id": other, "amount": 500, "reference": unique_id("away")}
        await write_through_the_handler(settings.database_url, "payment.wallet.credit", away)

        async def tried_while_away() -> bool:
            return await database.fetchval(
                "SELECT last_error IS NOT NULL FROM payment.outbox"
                " WHERE convert_from(body, 'UTF8') LIKE '%' || $1 || '%'",
                away["reference"],
            )

        await wait_until(tried_while_away, what="the relay trying to publish while the broker is away")
        await holder.execute("ROLLBACK")
        await holder.close()
        published = await client.wait_for("wallet.credited", with_reference(away["reference"]))
        credited = await client.wait_for("wallet.credited", with_reference(in_hand))
        after = await credit(client, customer, 4_000)
        last = await client.wait_for("wallet.credited", with_reference(after))

    assert published.data["balance_after"] == 500  # published by the same relay, once the broker was back
    row = await database.fetchrow(
        "SELECT attempts, last_error, published_at FROM payment.outbox WHERE message_id = $1", published.id
    )
    assert row["attempts"] >= 2 and row["published_at"] is not None  # failures while away, then the publish
    assert "closed" in row["last_error"]
    # The message in hand when the connection closed was delivered again and handled once.
    assert credited.data["balance_after"] == 3_000
    assert len(client.seen("wallet.credited", with_reference(in_hand))) == 1
    assert last.data["balance_after"] == 7_000  # and the consumer took messages again
    assert await database.fetchval("SELECT count(*) FROM payment.ledger WHERE customer_id = $1", customer) == 3


async def test_terminated_database_connections_are_replaced_and_the_message_in_hand_is_retried(
    settings, client, database, names
):
    customer = unique_id("customer")
    patient = settings.model_copy(update={"max_attempts": 5})
    async with running(patient, "payment"):
        await client.wait_for("wallet.credited", with_reference(await credit(client, customer, 1_000)))
        holder = await lock_wallet(settings.database_url, customer)
        in_hand = await credit(client, customer, 2_000)
        await wait_until(lambda: waiting_on_locks(database, "payment"), what="payment waiting on the wallet")

        terminated = await terminate_database_connections(settings.database_url, "payment")
        await holder.execute("ROLLBACK")
        await holder.close()
        credited = await client.wait_for("wallet.credited", with_reference(in_hand))
        after = await credit(client, customer, 4_000)
        last = await client.wait_for("wallet.credited", with_reference(after))

    assert terminated >= 1  # the handler's backend at least
    assert (credited.data["balance_after"], last.data["balance_after"]) == (3_000, 7_000)
    assert await database.fetchval("SELECT count(*) FROM payment.outbox WHERE published_at IS NULL") == 0
    assert await depth(settings.amqp_url, names.dead_letter_queue("payment")) == 0
