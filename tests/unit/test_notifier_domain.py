"""Which outcomes are told, what one fact is, and when a notification has what it sums up."""

import email
import email.policy
from datetime import UTC, datetime

from aiosmtplib.email import flatten_message

from stoppoc.contract.events import ClusterPocStopped, StopPocFailed, WalletCredited
from stoppoc.services.notifier import domain
from stoppoc.services.notifier.delivery import retry_delay_seconds
from stoppoc.services.notifier.handlers import channels_for
from stoppoc.services.notifier.mail import build_message
from stoppoc.services.notifier.queries import Contact
from stoppoc.services.notifier.rendering import Rendered
from stoppoc.shared.settings import Settings
from tests.unit.test_notifier_templates import CONVERSION, settled, short

AT = datetime(2025, 3, 1, 9, 5, tzinfo=UTC)


def test_a_refund_is_told_and_a_top_up_is_recorded_only():
    refund = WalletCredited(customer_id="c", amount=5, reference="refund:pay-1:srv-9", balance_after=5)
    top_up = WalletCredited(customer_id="c", amount=5, reference="topup-1", balance_after=5)

    assert domain.kind_of("wallet.credited", refund) == domain.REFUND and domain.REFUND.told
    assert domain.refunded(refund) == ("pay-1", "srv-9")
    assert domain.kind_of("wallet.credited", top_up).name == "wallet_credited"
    assert not domain.kind_of("wallet.credited", top_up).told


def test_payment_events_are_recorded_for_the_message_that_sums_them_up_not_told():
    assert not domain.KINDS["payment.settled"].told and not domain.KINDS["payment.failed"].told
    assert "cluster.poc_stopped" in domain.NOTIFIED_EVENTS and domain.KINDS["cluster.poc_stopped"].told


def test_one_fact_has_one_key_whatever_event_carries_it():
    stopped = ClusterPocStopped(rounds=1, stopped_at=AT, **CONVERSION)
    kind = domain.KINDS["cluster.poc_stopped"]
    assert kind.fact(stopped) == kind.fact(stopped.model_copy()) == "req-7"


def test_a_stop_waits_for_the_settlement_of_each_of_its_rounds():
    stopped = ClusterPocStopped(rounds=2, stopped_at=AT, **CONVERSION)

    assert not domain.is_complete("cluster.poc_stopped", stopped, domain.Payments.of([settled(1)], []))
    # The same payment announced twice is one payment.
    twice = domain.Payments.of([settled(1), settled(1)], [])
    assert len(twice.settled) == 1 and not domain.is_complete("cluster.poc_stopped", stopped, twice)
    both = domain.Payments.of([settled(2, payment_id="pay-2"), settled(1)], [])
    assert domain.is_complete("cluster.poc_stopped", stopped, both)
    assert [p.round for p in both.settled] == [1, 2]


def test_a_failure_for_want_of_funds_waits_for_the_shortfall():
    failed = StopPocFailed(round=1, reason="insufficient_funds", detail="short", **CONVERSION)
    rejected_coupon = StopPocFailed(round=1, reason="coupon_expired", detail="too late", **CONVERSION)

    assert not domain.is_complete("stop_poc.failed", failed, domain.Payments())
    assert domain.is_complete("stop_poc.failed", failed, domain.Payments.of([], [short()]))
    assert domain.is_complete("stop_poc.failed", rejected_coupon, domain.Payments())


def test_delays_between_attempts_double():
    assert [retry_delay_seconds(n, 30) for n in range(1, 5)] == [30, 60, 120, 240]


def contact(email: str | None = "a@example.com", webhook: str | None = None) -> Contact:
    return Contact("c", email, "vi", "Asia/Ho_Chi_Minh", webhook, "whsec_AAAA" if webhook else None)


def test_the_channels_of_a_notification_and_why_one_is_left_out():
    told, recorded = domain.KINDS["stop_poc.rejected"], domain.KINDS["payment.settled"]
    mail_on = Settings(smtp_host="127.0.0.1")
    mail_off = Settings(smtp_host=None)

    assert channels_for(told, contact(webhook="https://hooks.example.com/x"), mail_on) == (["email", "webhook"], None)
    assert channels_for(told, contact(), mail_off) == ([], "e-mail is off (STOPPOC_SMTP_HOST is not set)")
    assert channels_for(told, None, mail_on)[1] == "not sent: the customer has no contact (notifier.contact.upsert)"
    assert channels_for(told, contact(email=None), mail_on)[0] == []
    assert channels_for(recorded, contact(), mail_on)[0] == []


def test_a_long_vietnamese_subject_arrives_as_it_was_written():
    subject = (
        "Nạp thêm 2.000.000 ₫ trước 16:05 ngày 01/03/2025 (UTC+07:00) để hoàn tất Stop POC cho cụm chưa được thực hiện"
    )
    rendered = Rendered(subject, "Tổng cộng: 8.700.000 ₫\n", "<p>Tổng cộng: 8.700.000 ₫</p>")
    message = build_message(
        sender="Thông báo <no-reply@example.com>", recipient="a@example.com", rendered=rendered, notification_id=7
    )

    received = email.message_from_bytes(flatten_message(message), policy=email.policy.default)

    assert received["Subject"] == subject
    assert received["From"].addresses[0].display_name == "Thông báo"
    assert received["Message-ID"] == "<notification-7@example.com>"
    assert received.get_body(("plain",)).get_content() == rendered.text
    assert received.get_body(("html",)).get_content() == rendered.html
