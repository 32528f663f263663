"""The payment service against a real RabbitMQ and PostgreSQL."""

import uuid

import pytest

from stoppoc.contract.events import PaymentFailed, PaymentSettled, WalletCredited
from stoppoc.contract.replies import StopPocQuoted
from tests.contract_data import publish_event
from tests.faults.probes import dead_letters
from tests.infrastructure import running

pytestmark = pytest.mark.integration


def order(customer_id: str, total: int, **overrides) -> dict:
    lines = [
        {
            "resource_id": "srv-1",
            "kind": "server",
            "amount": total - total // 4,
            "discount": 0,
            "tax": 0,
            "total": total - total // 4,
        },
        {"resource_id": "vol-1", "kind": "volume", "amount": total // 4, "discount": 0, "tax": 0, "total": total // 4},
    ]
    return {
        "order_id": str(uuid.uuid4()),
        "request_id": str(uuid.uuid4()),
        "round": 1,
        "customer_id": customer_id,
        "cluster_id": "cl-1",
        "usage_cycle_months": 1,
        "auto_renew": False,
        "lines": lines,
        "subtotal": total,
        "discount": 0,
        "tax": 0,
        "total": total,
        "currency": "VND",
        "coupon_code": None,
        **overrides,
    }


async def test_a_credit_with_a_reused_reference_credits_once(settings, client, database):
    async with running(settings, "payment"):
        command = {"customer_id": "cus-1", "amount": 500_000, "reference": "topup-1"}
        await client.send("payment.wallet.credit", command)
        await client.send("payment.wallet.credit", command)  # a retry: new message id, same reference
        await client.send("payment.wallet.credit", {**command, "reference": "topup-2", "amount": 1})
        credited = [
            await client.wait_for("wallet.credited", lambda d, r=r: d["reference"] == r) for r in ("topup-1", "topup-2")
        ]

    # Credits may be handled in any order; the later one holds the whole balance.
    assert max(WalletCredited.model_validate(e.data).balance_after for e in credited) == 500_001
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


async def test_without_a_wait_an_order_the_wallet_cannot_cover_fails_at_once(settings, client, database):
    async with running(settings.model_copy(update={"funds_wait_seconds": 0}), "payment"):
        await client.send("payment.wallet.credit", {"customer_id": "cus-3", "amount": 100, "reference": "r"})
        await client.wait_for("wallet.credited")
        await publish_event(client, "order.created", order("cus-3", 250))
        failed = PaymentFailed.model_validate((await client.wait_for("payment.failed")).data)

    assert (failed.reason, failed.amount, failed.balance, failed.shortfall) == ("insufficient_funds", 250, 100, 150)
    assert await database.fetchval("SELECT balance FROM payment.wallets WHERE customer_id = 'cus-3'") == 100
    assert not client.seen("payment.settled") and not client.seen("payment.awaiting_funds")
    row = await database.fetchrow("SELECT status, reason, wait_until FROM payment.payments")
    assert tuple(row) == ("failed", "insufficient_funds", None)


async def test_a_refund_is_a_ledger_row_of_its_own_kind_credited_once(settings, client, database):
    async with running(settings, "payment"):
        await client.send("payment.wallet.credit", {"customer_id": "cus-5", "amount": 1_000_000, "reference": "r"})
        await client.wait_for("wallet.credited")
        data = order("cus-5", 400_000)
        await publish_event(client, "order.created", data)
        paid = PaymentSettled.model_validate((await client.wait_for("payment.settled")).data)
        refund = {
            "customer_id": "cus-5",
            "amount": paid.lines[0].total,
            "reference": f"refund:{paid.payment_id}:{paid.lines[0].resource_id}",
        }
        await client.send("payment.wallet.credit", refund)
        await client.send("payment.wallet.credit", refund)  # inventory's retry
        await client.send("payment.wallet.credit", {"customer_id": "cus-5", "amount": 5, "reference": "marker"})
        await client.wait_for("wallet.credited", lambda d: d["reference"] == "marker")
        await client.wait_for("wallet.credited", lambda d: d["reference"] == refund["reference"])

    assert len(client.seen("wallet.credited", lambda d: d["reference"] == refund["reference"])) == 1
    rows = await database.fetch("SELECT kind, amount, reference, order_id FROM payment.ledger ORDER BY entry_id")
    by_kind = sorted((row["kind"], row["amount"]) for row in rows)
    assert by_kind == [("credit", 5), ("credit", 1_000_000), ("debit", -400_000), ("refund", 300_000)]
    refunded = next(row for row in rows if row["kind"] == "refund")
    assert (refunded["reference"], refunded["order_id"]) == (refund["reference"], data["order_id"])
    balance = await database.fetchval("SELECT balance FROM payment.wallets WHERE customer_id = 'cus-5'")
    assert balance == sum(row["amount"] for row in rows) == 900_005


def priced_quote(customer_id: str, total: int) -> dict:
    data = order(customer_id, total)
    terms = (
        "customer_id",
        "cluster_id",
        "usage_cycle_months",
        "coupon_code",
        "lines",
        "subtotal",
        "discount",
        "tax",
        "total",
        "currency",
    )
    return {key: data[key] for key in terms}


async def test_a_quote_learns_what_the_wallet_holds_and_creates_no_wallet(settings, client, database):
    async with running(settings, "payment"):
        await client.send("payment.wallet.credit", {"customer_id": "cus-6", "amount": 500, "reference": "r"})
        await client.wait_for("wallet.credited")
        covered = await client.request("payment.quote.fund", priced_quote("cus-6", 500))
        short = await client.request("payment.quote.fund", priced_quote("cus-6", 501))
        stranger = await client.request("payment.quote.fund", priced_quote("nobody", 1))

    assert covered.type == "stoppoc.stop_poc.quoted.v1"
    quoted = StopPocQuoted.model_validate(covered.data)
    assert (quoted.wallet_balance, quoted.wallet_covers, quoted.total) == (500, True, 500)
    assert [line.total for line in quoted.lines] == [375, 125] and quoted.cluster_id == "cl-1"
    assert (short.data["wallet_balance"], short.data["wallet_covers"]) == (500, False)
    assert (stranger.data["wallet_balance"], stranger.data["wallet_covers"]) == (0, False)
    assert await database.fetchval("SELECT count(*) FROM payment.wallets") == 1
    assert not client.seen("payment.settled")


async def test_invalid_messages_go_to_the_dead_letter_queue_with_their_reason(settings, client, names):
    async with running(settings, "payment"):
        await client.send("payment.wallet.credit", {"customer_id": "cus-4", "amount": 1.5, "reference": "r"})
        await client.publish(names.commands, "payment.wallet.credit", b"not json")
        await client.send("payment.wallet.credit", {"customer_id": "cus-4", "amount": 7, "reference": "ok"})
        await client.wait_for("wallet.credited")  # the consumer went on

        dead = await dead_letters(settings.amqp_url, names, "payment", count=2)

    errors = sorted(m.headers["x-stoppoc-error"] for m in dead)
    assert errors == ["invalid_data", "invalid_envelope"]
    by_error = {m.headers["x-stoppoc-error"]: m for m in dead}
    assert "amount" in by_error["invalid_data"].headers["x-stoppoc-detail"]
    assert by_error["invalid_data"].headers["x-stoppoc-service"] == "payment"
    assert by_error["invalid_envelope"].body == b"not json"
