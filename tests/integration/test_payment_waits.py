"""Top-up-and-pay: an order the wallet cannot cover waits for a credit, against a real RabbitMQ
and PostgreSQL."""

import os
from datetime import timedelta

import asyncpg
import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from stoppoc.contract.envelope import utc_now
from stoppoc.contract.events import PaymentAwaitingFunds, PaymentFailed, PaymentSettled
from tests.contract_data import handled, publish_event, wait_until
from tests.infrastructure import running
from tests.integration.test_payment import order

pytestmark = pytest.mark.integration


def payment_waiting(settings, seconds: float, **more):
    """The payment service with orders waiting ``seconds`` for funds."""
    return running(settings.model_copy(update={"funds_wait_seconds": seconds, "sweep_seconds": 0.2, **more}), "payment")


def about(order_data: dict):
    return lambda d: d["order_id"] == order_data["order_id"]


async def credit(client, customer_id: str, amount: int, reference: str) -> dict:
    await client.send("payment.wallet.credit", {"customer_id": customer_id, "amount": amount, "reference": reference})
    return (await client.wait_for("wallet.credited", lambda d: d["reference"] == reference)).data


async def status_of(database, order_data: dict) -> str:
    return await database.fetchval("SELECT status FROM payment.payments WHERE order_id = $1", order_data["order_id"])


async def assert_ledger_explains_balance(database, customer_id: str, balance: int) -> None:
    wallet = await database.fetchval("SELECT balance FROM payment.wallets WHERE customer_id = $1", customer_id)
    ledger = await database.fetchval("SELECT sum(amount) FROM payment.ledger WHERE customer_id = $1", customer_id)
    assert wallet == ledger == balance


async def test_a_short_wallet_topped_up_in_time_settles_the_order_once(settings, client, database):
    async with payment_waiting(settings, 60):
        await credit(client, "cus-1", 100, "topup-1")
        data = order("cus-1", 250)
        first = await publish_event(client, "order.created", data)
        waiting = PaymentAwaitingFunds.model_validate((await client.wait_for("payment.awaiting_funds")).data)
        # Redelivered, and delivered again under another id: the order keeps waiting, untouched.
        again = [
            await publish_event(client, "order.created", data, message_id=first.id),
            await publish_event(client, "order.created", data),
        ]
        await wait_until(lambda: handled(database, "payment", *(e.id for e in again)), what="copies handled")
        await credit(client, "cus-1", 200, "topup-2")
        settled = PaymentSettled.model_validate((await client.wait_for("payment.settled", about(data))).data)
        await credit(client, "cus-1", 1, "topup-3")  # a later credit finds nothing left to settle

    assert (waiting.amount, waiting.balance, waiting.shortfall) == (250, 100, 150)
    assert timedelta(seconds=55) < waiting.wait_until - utc_now() < timedelta(seconds=65)
    assert (settled.amount, settled.balance_after, settled.order_id) == (250, 50, data["order_id"])
    assert sum(line.total for line in settled.lines) == 250
    assert len(client.seen("payment.awaiting_funds")) == 1 and len(client.seen("payment.settled")) == 1
    assert not client.seen("payment.failed")
    assert await status_of(database, data) == "settled"
    debits = await database.fetch("SELECT amount, balance_after FROM payment.ledger WHERE kind = 'debit'")
    assert [tuple(row) for row in debits] == [(-250, 50)]
    await assert_ledger_explains_balance(database, "cus-1", 51)


async def test_an_order_still_short_when_its_wait_ends_fails_with_the_shortfall(settings, client, database):
    async with payment_waiting(settings, 1):
        await credit(client, "cus-2", 100, "topup-1")
        data = order("cus-2", 250)
        await publish_event(client, "order.created", data)
        await client.wait_for("payment.awaiting_funds", about(data))
        failed = PaymentFailed.model_validate((await client.wait_for("payment.failed", about(data))).data)
        await credit(client, "cus-2", 1_000, "too-late")

    assert (failed.reason, failed.amount, failed.balance, failed.shortfall) == ("insufficient_funds", 250, 100, 150)
    assert failed.request_id == data["request_id"]
    assert not client.seen("payment.settled")
    assert await status_of(database, data) == "failed"
    await assert_ledger_explains_balance(database, "cus-2", 1_100)


async def test_a_credit_covering_only_the_oldest_waiting_order_settles_only_that_one(settings, client, database):
    oldest, big, small = order("cus-3", 300), order("cus-3", 500), order("cus-3", 100)
    async with payment_waiting(settings, 60, prefetch=1):
        for data in (oldest, big, small):
            await publish_event(client, "order.created", data)
            await client.wait_for("payment.awaiting_funds", about(data))
        await credit(client, "cus-3", 400, "topup-1")
        await client.wait_for("payment.settled", about(oldest))

    # The big order is not covered and is still in time, so the small one waits behind it.
    assert [await status_of(database, data) for data in (oldest, big, small)] == [
        "settled",
        "awaiting_funds",
        "awaiting_funds",
    ]
    assert len(client.seen("payment.settled")) == 1
    await assert_ledger_explains_balance(database, "cus-3", 100)


async def test_when_the_blocking_order_fails_the_one_behind_it_settles(settings, client, database):
    big, small = order("cus-4", 500), order("cus-4", 100)
    async with payment_waiting(settings, 2, prefetch=1):
        for data in (big, small):
            await publish_event(client, "order.created", data)
            await client.wait_for("payment.awaiting_funds", about(data))
        await credit(client, "cus-4", 150, "topup-1")
        failed = await client.wait_for("payment.failed", about(big))
        settled = await client.wait_for("payment.settled", about(small))

    assert (failed.data["balance"], failed.data["shortfall"]) == (150, 350)
    assert settled.data["balance_after"] == 50
    await assert_ledger_explains_balance(database, "cus-4", 50)


@pytest.mark.parametrize("credit_comes", ["before_the_deadline", "after_the_deadline"])
async def test_a_credit_and_the_expiry_racing_for_one_order_decide_it_once(settings, client, database, credit_comes):
    """The test holds the wallet's lock across the deadline, so the sweep runs while the credit
    is in flight; whichever order they get the lock in, the payment is decided once."""
    data = order("cus-6", 250)
    async with payment_waiting(settings, 2):
        await credit(client, "cus-6", 100, "topup-1")
        await publish_event(client, "order.created", data)
        await client.wait_for("payment.awaiting_funds", about(data))
        locker = await asyncpg.connect(settings.database_url)
        try:
            async with locker.transaction():
                await locker.execute("SELECT 1 FROM payment.wallets WHERE customer_id = 'cus-6' FOR UPDATE")
                if credit_comes == "after_the_deadline":
                    await wait_until(lambda: deadline_passed(database, data), what="deadline passed")
                await client.send("payment.wallet.credit", {"customer_id": "cus-6", "amount": 200, "reference": "r"})
                await wait_until(lambda: payment_waits_for_a_lock(database), what="credit blocked on the wallet")
                await wait_until(lambda: deadline_passed(database, data), what="deadline passed")
        finally:
            await locker.close()
        await client.wait_for("wallet.credited", lambda d: d["reference"] == "r")
        await wait_until(lambda: decided(database, data), what="payment decided")
        await credit(client, "cus-6", 1, "marker")  # the sweep ran meanwhile; nothing more happens

    outcomes = client.seen("payment.settled") + client.seen("payment.failed")
    assert len(outcomes) == 1
    if credit_comes == "before_the_deadline":
        assert (outcomes[0].routing_key, await status_of(database, data)) == ("payment.settled", "settled")
        await assert_ledger_explains_balance(database, "cus-6", 51)
    else:
        assert (outcomes[0].routing_key, outcomes[0].data["shortfall"]) == ("payment.failed", 150)
        await assert_ledger_explains_balance(database, "cus-6", 301)


async def deadline_passed(database, data: dict) -> bool:
    query = "SELECT clock_timestamp() > wait_until FROM payment.payments WHERE order_id = $1"
    return await database.fetchval(query, data["order_id"])


async def payment_waits_for_a_lock(database) -> bool:
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'stoppoc-payment' AND wait_event_type = 'Lock'"
    )
    return await database.fetchval(query) > 0


async def decided(database, data: dict) -> bool:
    return await status_of(database, data) != "awaiting_funds"


def new_traceparent() -> str:
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


def trace_id(envelope) -> str | None:
    return envelope.traceparent.split("-")[1] if envelope.traceparent else None


async def test_a_payment_decided_after_a_wait_is_announced_in_its_orders_trace(settings, client):
    """One conversion, one trace: settled by a top-up that has a trace of its own, or failed by the
    sweep (which traces nothing), the payment's event continues the order's trace."""
    topped_up, expired = order("cus-7", 250), order("cus-8", 250)
    orders_traces = {data["order_id"]: new_traceparent() for data in (topped_up, expired)}
    async with payment_waiting(settings, 3):
        for data in (topped_up, expired):
            await publish_event(client, "order.created", data, traceparent=orders_traces[data["order_id"]])
            await client.wait_for("payment.awaiting_funds", about(data))
        top_up = SpanContext(int(os.urandom(16).hex(), 16), 1, False, TraceFlags(TraceFlags.SAMPLED))
        with trace.use_span(NonRecordingSpan(top_up)):
            await credit(client, "cus-7", 300, "topup-in-its-own-trace")
        settled = await client.wait_for("payment.settled", about(topped_up))
        failed = await client.wait_for("payment.failed", about(expired))

    assert trace_id(client.seen("wallet.credited")[0]) == format(top_up.trace_id, "032x")
    for data, final in ((topped_up, settled), (expired, failed)):
        waiting = client.seen("payment.awaiting_funds", about(data))[0]
        assert trace_id(waiting) == trace_id(final) == orders_traces[data["order_id"]].split("-")[1]
