"""The notifier service against a real RabbitMQ and PostgreSQL."""

import pytest

from tests.contract_data import handled, publish_event, wait_until
from tests.infrastructure import running

pytestmark = pytest.mark.integration

CONVERSION = {"request_id": "req-1", "customer_id": "cus-1", "cluster_id": "cl-1"}
EVENTS = {
    "stop_poc.rejected": {**CONVERSION, "reason": "no_poc_resources", "detail": "nothing to convert"},
    "payment.settled": {
        **CONVERSION,
        "payment_id": "pay-1",
        "order_id": "ord-1",
        "round": 1,
        "amount": 1_234_567,
        "currency": "VND",
        "method": "credit_wallet",
        "balance_after": 5,
        "resource_ids": ["srv-1"],
        "settled_at": "2025-03-01T09:05:00Z",
    },
    "payment.failed": {
        **CONVERSION,
        "order_id": "ord-1",
        "round": 1,
        "reason": "insufficient_funds",
        "amount": 900,
        "balance": 100,
        "shortfall": 800,
    },
    "payment.awaiting_funds": {
        **CONVERSION,
        "order_id": "ord-1",
        "round": 1,
        "amount": 900,
        "balance": 100,
        "shortfall": 800,
        "wait_until": "2025-03-01T09:35:00Z",
    },
    "stop_poc.failed": {**CONVERSION, "round": 2, "reason": "resources_gone", "detail": "srv-1 was deleted"},
    "cluster.poc_stopped": {**CONVERSION, "rounds": 2, "stopped_at": "2025-03-01T09:05:00Z"},
    "wallet.credited": {
        "customer_id": "cus-1",
        "amount": 2_000_000,
        "reference": "topup-1",
        "balance_after": 2_000_005,
    },
}
KINDS = {key: key.replace(".", "_") for key in EVENTS}


async def test_each_outcome_records_one_notification_for_the_customer(settings, client, database):
    async with running(settings, "notifier"):
        sent = {key: await publish_event(client, key, data) for key, data in EVENTS.items()}
        await wait_until(lambda: handled(database, "notifier", *(e.id for e in sent.values())), what="events handled")

    rows = await database.fetch("SELECT * FROM notifier.notifications")
    by_source = {row["source_message_id"]: row for row in rows}
    assert len(rows) == len(EVENTS)
    for key, envelope in sent.items():
        row = by_source[envelope.id]
        assert (row["kind"], row["customer_id"], row["delivered_at"]) == (KINDS[key], "cus-1", None)
        assert row["title"] and row["body"]
    assert "1,234,567 VND" in by_source[sent["payment.settled"].id]["title"]
    assert "800 VND short" in by_source[sent["payment.failed"].id]["body"]
    assert "by 2025-03-01 09:35 UTC" in by_source[sent["payment.awaiting_funds"].id]["title"]
    assert "2 rounds" in by_source[sent["cluster.poc_stopped"].id]["body"]
    assert by_source[sent["stop_poc.failed"].id]["request_id"] == "req-1"
    assert by_source[sent["wallet.credited"].id]["cluster_id"] is None


async def test_a_redelivered_event_is_recorded_once(settings, client, database):
    data, marker = EVENTS["payment.failed"], EVENTS["wallet.credited"]

    async def redeliver_then_mark(message_id: str) -> str:
        # One message at a time, so the marker handled proves the copy before it was handled.
        await publish_event(client, "payment.failed", data, message_id=message_id)
        mark = await publish_event(client, "wallet.credited", marker)
        await wait_until(lambda: handled(database, "notifier", mark.id), what="marker handled")
        return mark.id

    async with running(settings.model_copy(update={"prefetch": 1}), "notifier"):
        first = await publish_event(client, "payment.failed", data)
        await wait_until(lambda: handled(database, "notifier", first.id), what="first delivery handled")
        marker_1 = await redeliver_then_mark(first.id)
        # The unique source id still guards when the inbox no longer knows the message.
        await database.execute("DELETE FROM notifier.inbox WHERE message_id = $1", first.id)
        marker_2 = await redeliver_then_mark(first.id)
        assert await handled(database, "notifier", first.id)  # the copy got past the inbox

    sources = await database.fetch("SELECT source_message_id FROM notifier.notifications ORDER BY notification_id")
    assert [row["source_message_id"] for row in sources] == [first.id, marker_1, marker_2]
