"""Customers hear about it, end to end: the four services as processes, a real SMTP server and
a real webhook receiver on 127.0.0.1, driven only through the contract."""

import json

import pytest
from standardwebhooks.webhooks import Webhook

from tests.contract_data import SampleCluster, handled, publish_event, unique_id, wait_until
from tests.receivers import WebhookReceiver, smtp_server, text_and_html

pytestmark = pytest.mark.e2e

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


async def test_a_converted_cluster_is_told_once_by_email_and_by_a_signed_webhook_retried_until_taken(
    services, client, database, monkeypatch
):
    receiver = WebhookReceiver(statuses=[500, 500])
    with smtp_server() as (sink, port):
        async with receiver.running():
            for name, value in {
                "STOPPOC_SMTP_HOST": "127.0.0.1",
                "STOPPOC_SMTP_PORT": str(port),
                "STOPPOC_WEBHOOK_ALLOW_PRIVATE": "true",
                "STOPPOC_DELIVERY_RETRY_SECONDS": "0.2",
            }.items():
                monkeypatch.setenv(name, value)
            await services.start()
            cluster = SampleCluster()
            address = f"{cluster.customer_id}@example.com"
            upsert = await client.send(
                "notifier.contact.upsert",
                {
                    "customer_id": cluster.customer_id,
                    "email": address,
                    "language": "en",
                    "timezone": "Asia/Ho_Chi_Minh",
                    "webhook_url": receiver.url,
                    "webhook_secret": SECRET,
                },
            )
            await wait_until(lambda: handled(database, "notifier", upsert.id), what="contact stored")
            await cluster.register(client)
            reference = unique_id("topup")
            await client.send(
                "payment.wallet.credit",
                {"customer_id": cluster.customer_id, "amount": 50_000_000, "reference": reference},
            )
            await client.wait_for("wallet.credited", lambda d: d["reference"] == reference)
            request = cluster.stop_request(usage_cycle_months=3)
            await client.send("inventory.stop_poc.request", request)
            outcome = await client.wait_for_outcome(request["request_id"])
            paid = await client.wait_for("payment.settled", lambda d: d["request_id"] == request["request_id"])

            await wait_until(lambda: _count(receiver, 3), timeout=30, what="the webhook, third time lucky")
            await wait_until(lambda: _mails(sink, address, 1), timeout=30, what="the e-mail")

            # The final event replayed with its id: nothing more is sent. A marker for another
            # customer, sent after it, shows that the replay was handled and the worker went round.
            await publish_event(client, "cluster.poc_stopped", outcome.data, message_id=outcome.id)
            other = unique_id("customer")
            other_contact = await client.send(
                "notifier.contact.upsert",
                {"customer_id": other, "webhook_url": receiver.url, "webhook_secret": SECRET},
            )
            await wait_until(lambda: handled(database, "notifier", other_contact.id), what="the other contact stored")
            marker = {"request_id": unique_id("req"), "customer_id": other, "cluster_id": unique_id("cl")}
            await publish_event(
                client, "stop_poc.rejected", {**marker, "reason": "cluster_not_found", "detail": "no such cluster"}
            )
            await wait_until(lambda: _count(receiver, 4), timeout=30, what="the marker's webhook")

    assert outcome.routing_key == "cluster.poc_stopped"
    [mail] = sink.to(address)
    total = f"{paid.data['amount']:,} VND"
    assert cluster.cluster_id in mail["Subject"] and total in mail["Subject"]
    text, html = text_and_html(mail)
    assert total in text and total in html and "What you can do next" in text

    ours = [r for r in receiver.received if json.loads(r.body)["data"]["customer_id"] == cluster.customer_id]
    assert [r.headers["webhook-id"] for r in ours] == [outcome.id] * 3
    for received in ours:
        assert Webhook(SECRET).verify(received.body, received.headers)["type"] == "stoppoc.cluster.poc_stopped.v1"
    delivery = await database.fetchrow(
        "SELECT * FROM notifier.deliveries WHERE customer_id = $1 AND channel = 'webhook'", cluster.customer_id
    )
    assert (delivery["status"], delivery["attempts"]) == ("sent", 3)
    # Every other message of the conversion was recorded and not sent: one e-mail, one webhook.
    kinds = await database.fetch(
        "SELECT kind FROM notifier.notifications n WHERE customer_id = $1 AND NOT EXISTS"
        " (SELECT 1 FROM notifier.deliveries d WHERE d.notification_id = n.notification_id)",
        cluster.customer_id,
    )
    assert {row["kind"] for row in kinds} == {"wallet_credited", "payment_settled"}


async def _count(receiver: WebhookReceiver, count: int) -> bool:
    return len(receiver.received) >= count


async def _mails(sink, address: str, count: int) -> bool:
    return len(sink.to(address)) >= count
