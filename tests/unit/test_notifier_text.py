"""What the notifier tells the customer about each outcome."""

from datetime import UTC, datetime, timedelta, timezone

from stoppoc.contract.events import (
    ClusterPocExpiring,
    ClusterPocStopped,
    PaymentAwaitingFunds,
    PaymentFailed,
    PaymentSettled,
    StopPocFailed,
    StopPocRejected,
    WalletCredited,
)
from stoppoc.services.notifier import domain

CONVERSION = {"request_id": "req-1", "customer_id": "cus-1", "cluster_id": "cl-1"}


def test_money_is_shown_in_whole_dong_with_thousands_separators():
    assert domain.vnd(1_234_567) == "1,234,567 VND"
    assert domain.vnd(0) == "0 VND"


def test_a_settled_payment_says_what_was_charged_and_what_is_left():
    event = PaymentSettled(
        payment_id="pay-1",
        order_id="ord-1",
        round=2,
        amount=1_234_567,
        method="credit_wallet",
        balance_after=765_433,
        resource_ids=["srv-1", "vol-1"],
        settled_at=datetime.now(UTC),
        **CONVERSION,
    )

    notification = domain.payment_settled(event)

    assert (notification.kind, notification.customer_id) == ("payment_settled", "cus-1")
    assert (notification.request_id, notification.cluster_id) == ("req-1", "cl-1")
    assert notification.title == "Payment of 1,234,567 VND received"
    assert notification.body == (
        "We charged 1,234,567 VND to your credit wallet for 2 resources of cluster cl-1 (round 2). "
        "Your balance is now 765,433 VND."
    )


def test_a_payment_short_of_funds_names_the_shortfall():
    event = PaymentFailed(
        order_id="ord-1",
        round=1,
        reason="insufficient_funds",
        amount=2_400_000,
        balance=400_000,
        shortfall=2_000_000,
        **CONVERSION,
    )

    notification = domain.payment_failed(event)

    assert notification.kind == "payment_failed"
    assert notification.body == (
        "We could not charge 2,400,000 VND for cluster cl-1 (round 1): your credit wallet holds 400,000 VND, "
        "2,000,000 VND short. Top up at least 2,000,000 VND and stop POC again."
    )


def test_a_payment_awaiting_funds_names_the_shortfall_and_the_deadline():
    wait_until = datetime(2025, 3, 1, 16, 35, tzinfo=timezone(timedelta(hours=7)))
    event = PaymentAwaitingFunds(
        order_id="ord-1",
        round=1,
        amount=2_400_000,
        balance=400_000,
        shortfall=2_000_000,
        wait_until=wait_until,
        **CONVERSION,
    )

    notification = domain.payment_awaiting_funds(event)

    assert (notification.kind, notification.request_id) == ("payment_awaiting_funds", "req-1")
    assert notification.title == "Top up 2,000,000 VND by 2025-03-01 09:35 UTC to finish stopping POC"
    assert notification.body == (
        "Stopping POC on cluster cl-1 (round 1) costs 2,400,000 VND; your credit wallet holds 400,000 VND, "
        "2,000,000 VND short. Top up at least 2,000,000 VND by 2025-03-01 09:35 UTC and we will charge it then; "
        "after that the payment fails and the resources stay POC."
    )


def test_a_payment_failed_for_another_reason_says_the_reason():
    event = PaymentFailed(
        order_id="ord-1",
        round=1,
        reason="wallet_frozen",
        amount=10,
        balance=0,
        shortfall=0,
        **CONVERSION,
    )

    assert domain.payment_failed(event).body.endswith("(round 1): the payment failed (wallet_frozen).")


def test_a_stopped_cluster_says_in_how_many_rounds():
    stopped_at = datetime(2025, 3, 1, 16, 5, tzinfo=timezone(timedelta(hours=7)))

    notification = domain.cluster_poc_stopped(ClusterPocStopped(rounds=2, stopped_at=stopped_at, **CONVERSION))

    assert notification.kind == "cluster_poc_stopped"
    assert notification.title == "Cluster cl-1 is no longer a POC"
    assert notification.body == (
        "The POC option of cluster cl-1 was turned off at 2025-03-01 09:05 UTC: "
        "its resources were converted to paid resources in 2 rounds."
    )


def test_a_cluster_stopped_without_an_order_says_nothing_was_charged():
    event = ClusterPocStopped(rounds=0, stopped_at=datetime(2025, 3, 1, 9, 5), **CONVERSION)

    body = domain.cluster_poc_stopped(event).body

    assert "2025-03-01 09:05 UTC" in body and "nothing was charged" in body


def test_a_rejected_request_says_why_and_that_nothing_was_charged():
    event = StopPocRejected(reason="no_poc_resources", detail="cluster cl-1 has no POC servers", **CONVERSION)

    notification = domain.stop_poc_rejected(event)

    assert (notification.kind, notification.request_id) == ("stop_poc_rejected", "req-1")
    assert notification.body == (
        "Your request to stop POC on cluster cl-1 was rejected: cluster cl-1 has no POC servers "
        "(reason: no_poc_resources). Nothing was charged."
    )


def test_a_failed_round_says_why_and_that_its_resources_are_poc_again():
    event = StopPocFailed(round=3, reason="order_rejected", detail="no price for srv-9", **CONVERSION)

    notification = domain.stop_poc_failed(event)

    assert (notification.kind, notification.request_id) == ("stop_poc_failed", "req-1")
    assert notification.body == (
        "Round 3 of stopping POC on cluster cl-1 ended without converting: no price for srv-9 "
        "(reason: order_rejected). Its resources are POC resources again."
    )


def test_a_wallet_credit_is_told_without_a_conversion():
    event = WalletCredited(customer_id="cus-1", amount=5_000_000, reference="topup-7", balance_after=5_000_100)

    notification = domain.wallet_credited(event)

    assert (notification.kind, notification.request_id, notification.cluster_id) == ("wallet_credited", None, None)
    assert notification.title == "5,000,000 VND added to your credit wallet"
    assert "(reference topup-7)" in notification.body and "now 5,000,100 VND" in notification.body


def test_an_expiry_reminder_names_the_cluster_and_the_date():
    note = domain.cluster_poc_expiring(
        ClusterPocExpiring(
            cluster_id="cl-1", customer_id="cus-1", name="shop", poc_expires_at="2026-12-03T09:00:00Z", days_before=7
        )
    )
    assert (note.kind, note.cluster_id, note.request_id) == ("cluster_poc_expiring", "cl-1", None)
    assert "2026-12-03 09:00 UTC" in note.title and "Stop POC" in note.body
