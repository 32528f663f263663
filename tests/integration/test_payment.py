"""The payment service against a real RabbitMQ and PostgreSQL."""

import uuid

import pytest

from shared.contract.events import PaymentFailed, PaymentSettled, WalletCredited
from tests.contract_data import publish_event
from tests.infrastructure import running

pytestmark = pytest.mark.integration


def order(customer_id: str, total: int, **overrides) -> dict:
    lines = [
        {"resource_id": "srv-1", "kind": "server", "amount": total - total // 4, "discount": 0,
         "tax": 0, "total": total - total // 4},
        {"resource_id": "vol-1", "kind": "volume", "amount": total // 4, "discount": 0,
         "tax": 0, "total": total // 4},
    ]
    return {
        "order_id": str(uuid.uuid4()), "request_id": str(uuid.uuid4()), "round": 1,
        "customer_id": customer_id, "cluster_id": "cl-1", "usage_cycle_months": 1,
        "auto_renew": False, "lines": lines, "subtotal": total, "discount": 0, "tax": 0,
        "total": total, "currency": "VND", "coupon_code": None, **overrides,
    }


async def test_a_credit_with_a_reused_reference_credits_once(settings, client, database):
    async with running(settings, "payment"):
        command = {"customer_id": "cus-1", "amount": 500_000, "reference": "topup-1"}
        await client.send("payment.wallet.credit", command)
        await client.send("payment.wallet.credit", command)  # a retry: new message id, same reference
        await client.send("payment.wallet.credit", {**command, "reference": "topup-2", "amount": 1})
        last = await client.wait_for("wallet.credited", lambda d: d["reference"] == "topup-2")

    assert WalletCredited.model_validate(last.data).balance_after == 500_001
    assert len(client.seen("wallet.credited")) == 2
    assert await database.fetchval("SELECT balance FROM payment.wallets WHERE customer_id = 'cus-1'") == 500_001
    assert await database.fetchval("SELECT count(*) FROM payment.ledger") == 2


async def test_an_order_is_paid_once_even_when_redelivered(settings, client, database):
    async with running(settings, "payment"):
        await client.send("payment.wallet.credit", {"customer_id": "cus-2", "amount": 1_000_000, "reference": "r"})
        await client.wait_for("wallet.credited")
        data = order("cus-2", 400_000)
        first = await publish_event(client, "order.created", data)
        settled = await client.wait_for("payment.settled")
        await publish_event(client, "order.created", data, message_id=first.id)  # same message again
        await publish_event(client, "order.created", data)  # same order, another message
        marker = await publish_event(client, "order.created", order("cus-2", 1))
        await client.wait_for("payment.settled", lambda d: d["order_id"] == marker.data["order_id"])

    payment = PaymentSettled.model_validate(settled.data)
    assert payment.amount == 400_000 and payment.balance_after == 600_000
    assert payment.resource_ids == ["srv-1", "vol-1"]
    assert sum(line.total for line in payment.lines) == payment.amount
    assert len(client.seen("payment.settled")) == 2
    assert settled.correlationid == data["request_id"] and settled.causationid == first.id
    balance = await database.fetchval("SELECT balance FROM payment.wallets WHERE customer_id = 'cus-2'")
    ledger_sum = await database.fetchval("SELECT sum(amount) FROM payment.ledger WHERE customer_id = 'cus-2'")
    assert balance == ledger_sum == 599_999


async def test_an_order_the_wallet_cannot_cover_fails_with_the_shortfall(settings, client, database):
    async with running(settings, "payment"):
        await client.send("payment.wallet.credit", {"customer_id": "cus-3", "amount": 100, "reference": "r"})
        await client.wait_for("wallet.credited")
        await publish_event(client, "order.created", order("cus-3", 250))
        failed = PaymentFailed.model_validate((await client.wait_for("payment.failed")).data)

    assert (failed.reason, failed.amount, failed.balance, failed.shortfall) == ("insufficient_funds", 250, 100, 150)
    assert await database.fetchval("SELECT balance FROM payment.wallets WHERE customer_id = 'cus-3'") == 100
    assert not client.seen("payment.settled")


async def test_invalid_messages_go_to_the_dead_letter_queue_with_their_reason(settings, client, names):
    import aio_pika

    async with running(settings, "payment"):
        await client.send("payment.wallet.credit", {"customer_id": "cus-4", "amount": 1.5, "reference": "r"})
        await client.publish(names.commands, "payment.wallet.credit", b"not json")
        await client.send("payment.wallet.credit", {"customer_id": "cus-4", "amount": 7, "reference": "ok"})
        await client.wait_for("wallet.credited")  # the consumer went on

        connection = await aio_pika.connect(settings.amqp_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(names.dead_letter_queue("payment"), passive=True)
            dead = [await queue.get(timeout=5), await queue.get(timeout=5)]

    errors = sorted(m.headers["x-stoppoc-error"] for m in dead)
    assert errors == ["invalid_data", "invalid_envelope"]
    by_error = {m.headers["x-stoppoc-error"]: m for m in dead}
    assert "amount" in by_error["invalid_data"].headers["x-stoppoc-detail"]
    assert by_error["invalid_data"].headers["x-stoppoc-service"] == "payment"
    assert by_error["invalid_envelope"].body == b"not json"
