"""A notifier killed between sending a webhook and recording it sends it once more at most,
with the same webhook-id, so the receiver can drop the copy."""

import asyncio

import pytest

from tests.contract_data import handled, publish_event, unique_id, wait_until
from tests.receivers import Received, WebhookReceiver

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


async def test_a_notifier_killed_while_sending_sends_the_webhook_once_more_with_the_same_id(
    services, client, database, monkeypatch
):
    killed = asyncio.Event()

    async def kill_the_sender_the_first_time(_: Received) -> None:
        if not killed.is_set():
            killed.set()
            await services.kill("notifier")

    receiver = WebhookReceiver(before_answer=kill_the_sender_the_first_time)
    customer = unique_id("customer")
    async with receiver.running():
        monkeypatch.setenv("STOPPOC_WEBHOOK_ALLOW_PRIVATE", "true")
        await services.start("notifier")
        upsert = await client.send(
            "notifier.contact.upsert", {"customer_id": customer, "webhook_url": receiver.url, "webhook_secret": SECRET}
        )
        await wait_until(lambda: handled(database, "notifier", upsert.id), what="contact stored")
        event = await publish_event(
            client,
            "stop_poc.rejected",
            {
                "request_id": unique_id("req"),
                "customer_id": customer,
                "cluster_id": unique_id("cl"),
                "reason": "cluster_not_found",
                "detail": "no such cluster",
            },
        )
        await asyncio.wait_for(killed.wait(), timeout=30)
        await services.restart("notifier")

        async def sent() -> bool:
            status = await database.fetchval("SELECT status FROM notifier.deliveries WHERE customer_id = $1", customer)
            return bool(status == "sent")

        await wait_until(sent, timeout=30, what="the webhook sent after the restart")

    assert [r.headers["webhook-id"] for r in receiver.received] == [event.id, event.id]
    # The killed attempt left nothing behind: one attempt recorded, the one that was answered.
    attempts = await database.fetch(
        "SELECT a.outcome FROM notifier.delivery_attempts a JOIN notifier.deliveries d USING (delivery_id)"
        " WHERE d.customer_id = $1",
        customer,
    )
    assert [a["outcome"] for a in attempts] == ["sent"]
