"""The notifier against a real RabbitMQ and PostgreSQL, a real SMTP server and a real HTTP
receiver on 127.0.0.1: what is recorded, what is sent, once, and how failures are retried."""

import asyncio
import contextlib
import json
import os
import sys
from collections import Counter

import pytest
import trustme
from aio_pika.exceptions import QueueEmpty
from standardwebhooks.webhooks import Webhook

from stoppoc.services.notifier import mail
from stoppoc.services.notifier.delivery import DeliveryWorker
from stoppoc.services.notifier.outcome import Outcome, Status
from stoppoc.services.notifier.queries import DueDelivery
from stoppoc.services.notifier.rendering import Rendered
from stoppoc.services.notifier.webhooks import WebhookSender
from stoppoc.shared.metrics import REGISTRY
from stoppoc.shared.settings import Settings
from tests.contract_data import handled, publish_event, unique_id, wait_until
from tests.faults.probes import dead_letters
from tests.infrastructure import running
from tests.receivers import (
    WebhookReceiver,
    free_port,
    smtp_greeting,
    smtp_server,
    smtp_server_with_starttls,
    text_and_html,
)

pytestmark = pytest.mark.integration

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def conversion(customer_id: str) -> dict:
    return {"request_id": unique_id("req"), "customer_id": customer_id, "cluster_id": unique_id("cl")}


def settled(of: dict, amount: int = 8_700_000, payment_id: str | None = None, round_: int = 1) -> dict:
    return {
        **of,
        "payment_id": payment_id or unique_id("pay"),
        "order_id": unique_id("ord"),
        "round": round_,
        "amount": amount,
        "currency": "VND",
        "method": "credit_wallet",
        "balance_after": 1_300_000,
        "resource_ids": ["srv-1"],
        "settled_at": "2025-03-01T09:05:00Z",
        "lines": [{"resource_id": "srv-1", "total": amount, "kind": "server", "amount": amount, "tax": 790_910}],
        "tax": 790_910,
        "vat_percent": 10,
    }


def stopped(of: dict, rounds: int = 1) -> dict:
    return {**of, "rounds": rounds, "stopped_at": "2025-03-01T09:06:00Z"}


def rejected(of: dict) -> dict:
    return {**of, "reason": "conversion_in_progress", "detail": "another Stop POC of the cluster is in flight"}


@pytest.fixture
def smtp():
    with smtp_server() as (sink, port):
        yield sink, port


@pytest.fixture
def channels(settings, smtp):
    """Settings with e-mail on (the test's SMTP server), webhooks to 127.0.0.1 allowed and quick retries."""
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp[1],
            "webhook_allow_private": True,
            "delivery_retry_seconds": 0.1,
            "notification_context_wait_seconds": 30,
        }
    )


async def contact(client, database, customer_id: str, **fields) -> None:
    sent = await client.send("notifier.contact.upsert", {"customer_id": customer_id, **fields})
    await wait_until(lambda: handled(database, "notifier", sent.id), what="contact stored")


async def deliveries(database, customer_id: str) -> list:
    return await database.fetch(
        "SELECT d.*, n.kind FROM notifier.deliveries d JOIN notifier.notifications n USING (notification_id)"
        " WHERE d.customer_id = $1 ORDER BY d.delivery_id",
        customer_id,
    )


async def all_settled(database, customer_id: str, count: int) -> bool:
    rows = await deliveries(database, customer_id)
    return len(rows) == count and all(row["status"] != "pending" for row in rows)


async def attempts(database, delivery_id: int) -> list:
    return await database.fetch(
        "SELECT * FROM notifier.delivery_attempts WHERE delivery_id = $1 ORDER BY attempt", delivery_id
    )


async def test_outcomes_are_recorded_for_a_customer_without_a_contact_and_nothing_is_sent(
    channels, client, database, smtp
):
    customer = unique_id("cus")
    flow = conversion(customer)
    sent = [
        await publish_event(client, "payment.settled", settled(flow)),
        await publish_event(client, "cluster.poc_stopped", stopped(flow)),
        await publish_event(
            client, "wallet.credited", {"customer_id": customer, "amount": 5, "reference": "t-1", "balance_after": 5}
        ),
    ]
    async with running(channels, "notifier"):
        await wait_until(lambda: handled(database, "notifier", *(e.id for e in sent)), what="events handled")
        await wait_until(
            lambda: database.fetchval(
                "SELECT rendered_at IS NOT NULL FROM notifier.notifications WHERE source_message_id = $1", sent[1].id
            ),
            what="the notification written",
        )

    rows = {
        r["kind"]: r
        for r in await database.fetch("SELECT * FROM notifier.notifications WHERE customer_id = $1", customer)
    }
    assert set(rows) == {"payment_settled", "cluster_poc_stopped", "wallet_credited"}
    assert "no contact" in rows["cluster_poc_stopped"]["note"]
    assert "recorded only" in rows["payment_settled"]["note"] and "recorded only" in rows["wallet_credited"]["note"]
    # Written all the same, in Vietnamese by default, with the conversion's total.
    assert "8.700.000 ₫" in rows["cluster_poc_stopped"]["title"]
    assert json.loads(rows["cluster_poc_stopped"]["event"])["id"] == sent[1].id
    assert await deliveries(database, customer) == []
    assert smtp[0].messages == []


async def test_a_customer_with_both_channels_gets_one_email_and_one_signed_webhook_once(
    channels, client, database, smtp
):
    sink, _ = smtp
    customer, email = unique_id("cus"), f"{unique_id('owner')}@example.com"
    flow = conversion(customer)
    receiver = WebhookReceiver()
    async with receiver.running(), running(channels, "notifier"):
        await contact(
            client, database, customer, email=email, language="en", webhook_url=receiver.url, webhook_secret=SECRET
        )
        await publish_event(client, "payment.settled", settled(flow))
        final = await publish_event(client, "cluster.poc_stopped", stopped(flow))
        await wait_until(lambda: all_settled(database, customer, 2), what="both deliveries done")

        # The final event again: redelivered with its id, and the same fact under a new id.
        await publish_event(client, "cluster.poc_stopped", stopped(flow), message_id=final.id)
        again = await publish_event(client, "cluster.poc_stopped", stopped(flow))
        marker = await publish_event(client, "stop_poc.rejected", rejected(conversion(customer)))
        await wait_until(lambda: handled(database, "notifier", again.id, marker.id), what="replays handled")
        await wait_until(lambda: all_settled(database, customer, 4), what="the marker's deliveries done")

    mails = sink.to(email)
    assert len(mails) == 2  # the conversion's, then the marker's
    text, html = text_and_html(mails[0])
    assert mails[0]["Subject"] == f"Cluster {flow['cluster_id']} is now a paid cluster: 8,700,000 VND charged"
    for part in (text, html):
        assert flow["cluster_id"] in part and "8,700,000 VND" in part and "What you can do next" in part
    assert "1 March 2025, 16:06 (UTC+07:00)" in text  # the customer's default time zone

    hooks = [r for r in receiver.received if json.loads(r.body)["type"] == "stoppoc.cluster.poc_stopped.v1"]
    assert len(hooks) == 1
    body = Webhook(SECRET).verify(hooks[0].body, hooks[0].headers)
    assert hooks[0].headers["webhook-id"] == body["id"] == final.id
    assert hooks[0].headers["content-type"] == "application/cloudevents+json"
    assert body["data"]["cluster_id"] == flow["cluster_id"]

    told = await database.fetchrow("SELECT * FROM notifier.notifications WHERE source_message_id = $1", again.id)
    assert "told already on email, webhook" in told["note"]
    first = await database.fetchrow("SELECT * FROM notifier.notifications WHERE source_message_id = $1", final.id)
    assert first["delivered_at"] is not None and first["language"] == "en"


async def test_a_webhook_answered_500_twice_is_sent_three_times_with_one_id_and_ends_sent(channels, client, database):
    customer = unique_id("cus")
    receiver = WebhookReceiver(statuses=[500, 500])
    retried, delivered = webhook_count("retried"), webhook_count("delivered")
    async with receiver.running(), running(channels, "notifier"):
        await contact(client, database, customer, webhook_url=receiver.url, webhook_secret=SECRET)
        event = await publish_event(client, "stop_poc.rejected", rejected(conversion(customer)))
        await wait_until(lambda: all_settled(database, customer, 1), what="the webhook delivered")

    assert [r.headers["webhook-id"] for r in receiver.received] == [event.id] * 3
    for received in receiver.received:
        Webhook(SECRET).verify(received.body, received.headers)  # each attempt signed afresh
    [delivery] = await deliveries(database, customer)
    assert (delivery["status"], delivery["attempts"], delivery["channel"]) == ("sent", 3, "webhook")
    log = await attempts(database, delivery["delivery_id"])
    assert [a["outcome"] for a in log] == ["retry", "retry", "sent"]
    assert log[0]["answer"].startswith("HTTP 500") and log[2]["answer"].startswith("HTTP 200")
    assert log[0]["destination"] == receiver.url
    # Each attempt counted in stoppoc_notifications_total by what became of it.
    assert (webhook_count("retried") - retried, webhook_count("delivered") - delivered) == (2, 1)


def webhook_count(status: str) -> float:
    value = REGISTRY.get_sample_value("stoppoc_notifications_total", {"channel": "webhook", "status": status})
    return value or 0.0


async def test_a_webhook_to_a_loopback_address_is_refused_unless_allowed(channels, client, database):
    customer = unique_id("cus")
    receiver = WebhookReceiver()
    strict = channels.model_copy(update={"webhook_allow_private": False})
    async with receiver.running(), running(strict, "notifier"):
        await contact(client, database, customer, webhook_url=receiver.url, webhook_secret=SECRET)
        await publish_event(client, "stop_poc.rejected", rejected(conversion(customer)))
        await wait_until(lambda: all_settled(database, customer, 1), what="the delivery decided")

    [delivery] = await deliveries(database, customer)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)  # permanent: no retry
    assert "loopback" in delivery["last_error"] and "STOPPOC_WEBHOOK_ALLOW_PRIVATE" in delivery["last_error"]
    assert receiver.received == []


async def test_a_fact_replayed_after_its_webhook_failed_says_so_and_sends_nothing(channels, client, database, smtp):
    sink, _ = smtp
    customer, email = unique_id("cus"), f"{unique_id('owner')}@example.com"
    flow = conversion(customer)
    receiver = WebhookReceiver()
    strict = channels.model_copy(update={"webhook_allow_private": False})  # the webhook is refused
    async with receiver.running(), running(strict, "notifier"):
        await contact(client, database, customer, email=email, webhook_url=receiver.url, webhook_secret=SECRET)
        first = await publish_event(client, "stop_poc.rejected", rejected(flow))
        await wait_until(lambda: all_settled(database, customer, 2), what="both deliveries decided")
        again = await publish_event(client, "stop_poc.rejected", rejected(flow))
        await wait_until(lambda: handled(database, "notifier", again.id), what="the replay handled")

    notification_id = await database.fetchval(
        "SELECT notification_id FROM notifier.notifications WHERE source_message_id = $1", first.id
    )
    note = await database.fetchval("SELECT note FROM notifier.notifications WHERE source_message_id = $1", again.id)
    assert note.startswith(f"told already on email; not sent again on webhook: notification {notification_id}'s")
    assert "delivery failed (same stop_poc_rejected:" in note
    assert [d["status"] for d in await deliveries(database, customer)] == ["sent", "failed"]
    assert len(sink.to(email)) == 1 and receiver.received == []


async def test_smtp_answers_decide_between_retrying_and_giving_up(channels, client, database, smtp):
    sink, _ = smtp
    sink.replies.update(
        {"patient@example.com": ["451 4.3.0 mailbox busy, try later"], "nobody@example.com": ["550 5.1.1 no such user"]}
    )
    patient, unknown = unique_id("cus"), unique_id("cus")
    async with running(channels, "notifier"):
        await contact(client, database, patient, email="patient@example.com")
        await publish_event(client, "stop_poc.rejected", rejected(conversion(patient)))
        await wait_until(lambda: all_settled(database, patient, 1), what="the first e-mail decided")
        await contact(client, database, unknown, email="nobody@example.com", language="en")
        await publish_event(client, "stop_poc.rejected", rejected(conversion(unknown)))
        await wait_until(lambda: all_settled(database, unknown, 1), what="the second e-mail decided")

    [first], [second] = await deliveries(database, patient), await deliveries(database, unknown)
    assert (first["status"], first["attempts"]) == ("sent", 2)
    answers = [a["answer"] for a in await attempts(database, first["delivery_id"])]
    assert answers == ["451 4.3.0 mailbox busy, try later (SMTPDataError)", "250 2.0.0 OK: queued"]
    assert (second["status"], second["attempts"]) == ("failed", 1)
    assert second["last_error"] == "550 5.1.1 no such user (SMTPDataError)"
    assert [m["To"] for m in sink.messages] == ["patient@example.com"]


# The channels' clients alone, against real servers on 127.0.0.1: what each answer comes to.


def smtp_settings(port: int, **more: object) -> Settings:
    return Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_timeout_seconds=5, **more)


def a_message(recipient: str = "someone@example.com"):
    rendered = Rendered("Cluster cl-1 converted", "8.700.000 ₫", "<p>8.700.000 ₫</p>")
    return mail.build_message(sender="no-reply@example.com", recipient=recipient, rendered=rendered, notification_id=7)


def queue_reply(sink, stage: str, reply: str) -> None:
    if stage == "sender":
        sink.sender_replies.append(reply)
    elif stage == "recipient":
        sink.recipient_replies["someone@example.com"] = [reply]
    else:
        sink.replies["someone@example.com"] = [reply]


@pytest.mark.parametrize("stage", ["sender", "recipient", "message"])
@pytest.mark.parametrize(
    ("reply", "status"), [("550 5.7.1 refused here", Status.FAILED), ("451 4.3.0 busy, try later", Status.RETRY)]
)
async def test_an_smtp_5xx_at_any_stage_fails_at_once_and_a_4xx_is_retried(smtp, stage, reply, status):
    sink, port = smtp
    queue_reply(sink, stage, reply)

    outcome = await mail.send(a_message(), smtp_settings(port))

    assert (outcome.status, outcome.answer.split(" (")[0]) == (status, reply)
    assert sink.messages == []


async def test_a_refused_smtp_login_fails_at_once_and_an_accepted_one_sends(smtp):
    sink, port = smtp
    sink.accounts["stoppoc"] = "s3cret"

    refused = await mail.send(a_message(), smtp_settings(port, smtp_username="stoppoc", smtp_password="wrong"))
    accepted = await mail.send(a_message(), smtp_settings(port, smtp_username="stoppoc", smtp_password="s3cret"))

    assert refused.status is Status.FAILED and refused.answer.startswith("535 ")
    assert "SMTPAuthenticationError" in refused.answer
    assert accepted.status is Status.SENT and sink.logins == ["stoppoc"] and len(sink.messages) == 1


@pytest.mark.parametrize(
    ("greeting", "status"), [("554 5.3.2 no service here", Status.FAILED), ("421 4.3.2 busy", Status.RETRY)]
)
async def test_an_smtp_greeting_in_5xx_fails_at_once_and_in_4xx_is_retried(greeting, status):
    async with smtp_greeting(greeting) as port:
        outcome = await mail.send(a_message(), smtp_settings(port))

    assert outcome.status is status and outcome.answer.startswith(greeting.split()[0])


async def test_an_unreachable_smtp_server_or_one_without_starttls_is_retried(smtp):
    _, port = smtp

    unreachable = await mail.send(a_message(), smtp_settings(free_port()))
    without_tls = await mail.send(a_message(), smtp_settings(port, smtp_starttls=True))

    assert unreachable.status is Status.RETRY and "SMTPConnectError" in unreachable.answer
    assert without_tls.status is Status.RETRY and "STARTTLS" in without_tls.answer


async def test_starttls_with_a_trusted_certificate_logs_in_and_sends_and_an_untrusted_one_is_retried(
    tmp_path, monkeypatch
):
    authority, stranger = trustme.CA(), trustme.CA()
    trusted = tmp_path / "trusted.pem"
    authority.cert_pem.write_to_path(str(trusted))
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted))  # what the default TLS context trusts
    login = {"smtp_starttls": True, "smtp_username": "stoppoc", "smtp_password": "s3cret"}
    with smtp_server_with_starttls(authority) as (sink, port):
        sink.accounts["stoppoc"] = "s3cret"
        sent = await mail.send(a_message(), smtp_settings(port, **login))
        plain = await mail.send(a_message(), smtp_settings(port))  # the server requires STARTTLS
    with smtp_server_with_starttls(stranger) as (other, other_port):
        other.accounts["stoppoc"] = "s3cret"
        untrusted = await mail.send(a_message(), smtp_settings(other_port, **login))

    assert sent.status is Status.SENT and sink.logins == ["stoppoc"] and len(sink.messages) == 1
    assert plain.status is Status.FAILED and plain.answer.startswith("530 ")  # a 5xx: fails at once
    assert untrusted.status is Status.RETRY and "CERTIFICATE_VERIFY_FAILED" in untrusted.answer
    assert other.messages == [] and other.logins == []


@contextlib.asynccontextmanager
async def webhook_sender(timeout_seconds: float = 5):
    sender = WebhookSender(timeout_seconds, allow_private=True)
    try:
        yield sender
    finally:
        await sender.close()


async def test_a_webhook_without_an_answer_in_time_or_with_its_port_closed_is_retried():
    slow = WebhookReceiver(delay_seconds=0.5)
    async with slow.running(), webhook_sender(timeout_seconds=0.05) as sender:
        late = await sender.post(slow.url, SECRET, "evt-1", b"{}")
        closed = await sender.post(f"http://127.0.0.1:{free_port()}/hooks", SECRET, "evt-2", b"{}")

    assert (late.status, late.answer) == (Status.RETRY, "no answer within 0.05 s")
    assert len(slow.received) == 1  # it was asked
    assert closed.status is Status.RETRY and closed.answer.startswith("ConnectError")


async def test_each_webhook_goes_over_a_connection_of_its_own():
    # Pooled by the checked IP, a kept connection could carry another host's webhook over a TLS
    # session checked for the first one.
    receiver = WebhookReceiver(keep_alive=True)
    async with receiver.running(), webhook_sender() as sender:
        outcomes = [await sender.post(receiver.url, SECRET, f"evt-{n}", b"{}") for n in range(2)]

    assert [o.status for o in outcomes] == [Status.SENT, Status.SENT]
    assert receiver.connections == 2


async def test_a_webhook_secret_that_cannot_sign_fails_at_once():
    receiver = WebhookReceiver()
    async with receiver.running(), webhook_sender() as sender:
        outcome = await sender.post(receiver.url, "whsec_not*base64", "evt-1", b"{}")

    assert outcome.status is Status.FAILED and "webhook secret" in outcome.answer
    assert receiver.received == []


async def test_attempts_run_out_then_an_operator_retries(channels, client, database):
    customer = unique_id("cus")
    receiver = WebhookReceiver(statuses=[503, 503, 503])
    limited = channels.model_copy(update={"delivery_max_attempts": 3})
    async with receiver.running(), running(limited, "notifier"):
        await contact(client, database, customer, webhook_url=receiver.url, webhook_secret=SECRET)
        await publish_event(client, "stop_poc.rejected", rejected(conversion(customer)))
        await wait_until(lambda: all_settled(database, customer, 1), what="the attempts used up")
        [failed] = await deliveries(database, customer)
        assert (failed["status"], failed["attempts"]) == ("failed", 3)
        assert failed["last_error"].endswith("(gave up after 3 attempts)")

        listed = json.loads(await stoppoc(limited, 0, "notifications", "list", "--customer", customer, "--json"))
        assert [(n["kind"], n["status"]) for n in listed] == [("stop_poc_rejected", "failed")]
        notification_id = listed[0]["notification_id"]
        await stoppoc(limited, 0, "notifications", "retry", str(notification_id))
        await wait_until(lambda: all_settled(database, customer, 1), what="the retried delivery sent")
        # A sent delivery is never sent again.
        await stoppoc(limited, 1, "notifications", "retry", str(notification_id))

    shown = json.loads(await stoppoc(limited, 0, "notifications", "show", str(notification_id), "--json"))
    assert [d["status"] for d in shown["deliveries"]] == ["sent"]
    assert [a["outcome"] for a in shown["attempts"]] == ["retry", "retry", "failed", "sent"]
    assert "webhook_secret" not in json.dumps(shown) and SECRET not in json.dumps(shown)
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1 and len(receiver.received) == 4


async def test_the_email_waits_for_the_payment_it_sums_up(channels, client, database, smtp):
    sink, _ = smtp
    customer = unique_id("cus")
    flow = conversion(customer)
    async with running(channels, "notifier"):
        await contact(client, database, customer, email="late@example.com")
        final = await publish_event(client, "cluster.poc_stopped", stopped(flow))
        await wait_until(lambda: handled(database, "notifier", final.id), what="the final event handled")
        # Handled before the settlement it sums up: written only once that is known.
        marker = await publish_event(client, "stop_poc.rejected", rejected(conversion(customer)))
        await wait_until(lambda: _sent_to(sink, "late@example.com", 1), what="the marker's e-mail")
        [marker_mail] = sink.to("late@example.com")
        assert "chưa được thực hiện" in marker_mail["Subject"]
        await publish_event(client, "payment.settled", settled(flow, amount=4_200_000))
        await wait_until(lambda: _sent_to(sink, "late@example.com", 2), what="the conversion's e-mail")
        assert await handled(database, "notifier", marker.id)

    text, _ = text_and_html(sink.to("late@example.com")[1])
    assert "4.200.000 ₫" in text and flow["cluster_id"] in text


async def test_without_its_payment_the_email_goes_after_the_wait_with_what_is_known(channels, client, database, smtp):
    sink, _ = smtp
    customer = unique_id("cus")
    flow = conversion(customer)
    async with running(channels.model_copy(update={"notification_context_wait_seconds": 0.5}), "notifier"):
        await contact(client, database, customer, email="alone@example.com", language="en")
        await publish_event(client, "cluster.poc_stopped", stopped(flow, rounds=2))
        await wait_until(lambda: _sent_to(sink, "alone@example.com", 1), what="the e-mail")

    text, _ = text_and_html(sink.to("alone@example.com")[0])
    assert "paid in 2 payments" in text and "What it cost" not in text


async def test_two_instances_share_a_backlog_without_sending_anything_twice(
    channels, client, database, smtp, monkeypatch
):
    sink, _ = smtp
    customer, count = unique_id("cus"), 30
    receiver = WebhookReceiver(delay_seconds=0.02)
    # Which worker made each attempt, by delivery: both must have sent some, neither twice.
    attempted_by: dict[int, list[int]] = {}
    attempt = DeliveryWorker._attempt

    async def recorded(worker: DeliveryWorker, due: DueDelivery) -> tuple[str, Outcome]:
        attempted_by.setdefault(due.delivery_id, []).append(id(worker))
        return await attempt(worker, due)

    async with receiver.running():
        async with running(channels, "notifier"):
            await contact(
                client, database, customer, email="busy@example.com", webhook_url=receiver.url, webhook_secret=SECRET
            )
        # The backlog builds up while no notifier runs, then two instances take it together.
        events = [
            await publish_event(client, "stop_poc.rejected", rejected(conversion(customer))) for _ in range(count)
        ]
        monkeypatch.setattr(DeliveryWorker, "_attempt", recorded)
        async with running(channels, "notifier", "notifier") as apps:
            workers = {id(worker) for app in apps for worker in app.runtime.workers}
            await wait_until(lambda: all_settled(database, customer, 2 * count), timeout=60, what="the backlog sent")

    webhook_ids = [r.headers["webhook-id"] for r in receiver.received]
    assert sorted(webhook_ids) == sorted(e.id for e in events)  # each once
    message_ids = [m["Message-ID"] for m in sink.to("busy@example.com")]
    assert len(message_ids) == len(set(message_ids)) == count
    rows = await deliveries(database, customer)
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}
    assert sorted(attempted_by) == sorted(r["delivery_id"] for r in rows)
    assert all(len(by) == 1 for by in attempted_by.values())
    shares = Counter(by[0] for by in attempted_by.values())
    assert set(shares) == workers and len(workers) == 2, shares  # each instance sent a share


@pytest.mark.parametrize(
    ("url", "secret", "detail"),
    [
        ("file:///etc/passwd", SECRET, "http or https"),
        ("https://hooks.example.com/x", "whsec_not-base64!", "standard base64"),
        ("https://hooks.example.com/x", "plain-text-secret", "standard base64"),
    ],
)
async def test_a_contact_with_a_webhook_that_is_not_http_or_a_secret_not_base64_is_dead_lettered(
    channels, client, database, names, url, secret, detail
):
    customer = unique_id("cus")
    async with running(channels, "notifier"):
        await client.send(
            "notifier.contact.upsert", {"customer_id": customer, "webhook_url": url, "webhook_secret": secret}
        )
        letters = []

        async def dead_lettered() -> bool:
            with contextlib.suppress(QueueEmpty):
                letters.extend(await dead_letters(channels.amqp_url, names, "notifier"))
            return bool(letters)

        await wait_until(dead_lettered, what="the contact dead-lettered")
    [letter] = letters

    assert letter.headers["x-stoppoc-error"] == "invalid_data"
    assert detail in letter.headers["x-stoppoc-detail"]
    assert await database.fetchval("SELECT count(*) FROM notifier.contacts WHERE customer_id = $1", customer) == 0


async def _sent_to(sink, address: str, count: int) -> bool:
    return len(sink.to(address)) >= count


async def stoppoc(settings, expected_code: int, *args: str) -> str:
    """``stoppoc ARGS`` as an operator runs it, against the test's database; its output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stoppoc.cli",
        *args,
        env={**os.environ, "STOPPOC_DATABASE_URL": settings.database_url, "STOPPOC_NAMESPACE": settings.namespace},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == expected_code, (args, out.decode(), err.decode())
    return out.decode()
