"""Every notification kind rendered in each language: what happened, what it cost (in the
customer's money format), times in the customer's time zone, and what to do next."""

import re
from datetime import UTC, datetime

import pytest

from stoppoc.contract.base import Language
from stoppoc.contract.events import (
    ClusterPocExpiring,
    ClusterPocStopped,
    FailedRound,
    PaymentAwaitingFunds,
    PaymentFailed,
    PaymentSettled,
    RenewalFailed,
    ResourceDeletionDue,
    ResourceExpired,
    ResourceExpiring,
    ResourceResumed,
    ResourcesRenewed,
    ResourceSuspended,
    SettledLine,
    StopPocCompleted,
    StopPocFailed,
    StopPocRejected,
    WalletCredited,
)
from stoppoc.services.notifier import domain
from stoppoc.services.notifier.domain import Payments
from stoppoc.services.notifier.formatting import Formats
from stoppoc.services.notifier.rendering import render

CUSTOMER, CLUSTER, REQUEST = "cus-1", "cl-42", "req-7"
AT = datetime(2025, 3, 1, 9, 5, tzinfo=UTC)  # 16:05 in Ho Chi Minh City, 10:05 in Berlin
ZONES = {Language.VI: "Asia/Ho_Chi_Minh", Language.EN: "Europe/Berlin"}
LOCAL_TIME = {Language.VI: "16:05 ngày 01/03/2025 (UTC+07:00)", Language.EN: "1 March 2025, 10:05 (UTC+01:00)"}
NEXT = {Language.VI: "Bạn có thể làm gì tiếp theo", Language.EN: "What you can do next"}
TOTAL = {Language.VI: "8.700.000 ₫", Language.EN: "8,700,000 VND"}
SHORTFALL = {Language.VI: "2.000.000 ₫", Language.EN: "2,000,000 VND"}


def settled(round_: int = 1, request_id: str = REQUEST, payment_id: str = "pay-1") -> PaymentSettled:
    return PaymentSettled(
        payment_id=payment_id,
        order_id=f"ord-{round_}",
        request_id=request_id,
        round=round_,
        customer_id=CUSTOMER,
        cluster_id=CLUSTER,
        amount=8_700_000,
        method="credit_wallet",
        balance_after=1_300_000,
        resource_ids=["srv-1", "vol-1"],
        settled_at=AT,
        lines=[
            SettledLine(resource_id="srv-1", total=6_000_000, kind="server", amount=6_000_000, tax=545_455),
            SettledLine(
                resource_id="vol-1",
                total=2_700_000,
                kind="volume",
                amount=3_000_000,
                cycle_discount=300_000,
                tax=245_455,
            ),
        ],
        usage_cycle_months=3,
        auto_renew=True,
        tax=790_910,
        vat_percent=10,
    )


def short(request_id: str = REQUEST, round_: int = 1) -> PaymentFailed:
    return PaymentFailed(
        order_id=f"ord-{round_}",
        request_id=request_id,
        round=round_,
        customer_id=CUSTOMER,
        cluster_id=CLUSTER,
        reason="insufficient_funds",
        amount=2_400_000,
        balance=400_000,
        shortfall=2_000_000,
    )


CONVERSION = {"request_id": REQUEST, "customer_id": CUSTOMER, "cluster_id": CLUSTER}
RESOURCE = {"resource_id": "srv-1", "cluster_id": CLUSTER, "customer_id": CUSTOMER, "paid_until": AT}
RENEWAL = {"renewal_id": "ren-1", "customer_id": CUSTOMER, "cluster_id": CLUSTER, "resource_ids": ["srv-1", "vol-1"]}

# Each told kind: its event, what payment said about it, and what its text must hold in each
# language besides the local time (amounts formatted per language: "total" / "shortfall").
CASES = {
    "cluster_poc_stopped": (
        ClusterPocStopped(rounds=1, stopped_at=AT, **CONVERSION),
        Payments.of([settled()], []),
        {"total"},
        {Language.VI: "duy trì đủ số dư", Language.EN: "keep enough credit"},
    ),
    "stop_poc_completed": (
        StopPocCompleted(
            rounds=1,
            converted_resource_ids=["srv-1", "vol-1"],
            poc_remaining_resource_ids=["srv-2"],
            failed_round=FailedRound(
                round=2, reason="insufficient_funds", detail="wallet short", resource_ids=["srv-3"]
            ),
            completed_at=AT,
            **CONVERSION,
        ),
        Payments.of([settled()], [short(round_=2)]),
        {"total", "shortfall"},
        {Language.VI: "bấm Stop POC lại", Language.EN: "press Stop POC again"},
    ),
    "stop_poc_failed": (
        StopPocFailed(round=1, reason="insufficient_funds", detail="the wallet is short", **CONVERSION),
        Payments.of([], [short()]),
        {"shortfall"},
        {Language.VI: "rồi bấm Stop POC lại", Language.EN: "then press Stop POC again"},
    ),
    "stop_poc_rejected": (
        StopPocRejected(reason="conversion_in_progress", detail="another one runs", **CONVERSION),
        Payments(),
        set(),
        {Language.VI: "hãy chờ kết quả", Language.EN: "wait for its result"},
    ),
    "payment_awaiting_funds": (
        PaymentAwaitingFunds(
            order_id="ord-1",
            round=1,
            amount=2_400_000,
            balance=400_000,
            shortfall=2_000_000,
            wait_until=AT,
            **CONVERSION,
        ),
        Payments(),
        {"shortfall"},
        {Language.VI: "Hãy nạp ít nhất", Language.EN: "Top up your credit wallet by at least"},
    ),
    "refund": (
        WalletCredited(customer_id=CUSTOMER, amount=2_700_000, reference="refund:pay-1:vol-1", balance_after=4_000_000),
        Payments.of([settled()], []),
        {"refund"},
        {Language.VI: "Bạn không cần làm gì", Language.EN: "Nothing is needed"},
    ),
    "cluster_poc_expiring": (
        ClusterPocExpiring(cluster_id=CLUSTER, customer_id=CUSTOMER, name="shop", poc_expires_at=AT, days_before=7),
        Payments(),
        set(),
        {Language.VI: "Hãy bấm Stop POC trên portal", Language.EN: "Press Stop POC in the portal"},
    ),
    "resource_expiring": (
        ResourceExpiring(auto_renew=False, days_left=3, **RESOURCE),
        Payments(),
        set(),
        {Language.VI: "Hãy gia hạn trên portal", Language.EN: "Renew it in the portal"},
    ),
    "resources_renewed": (
        ResourcesRenewed(usage_cycle_months=3, paid_until=AT, **RENEWAL),
        Payments.of([settled(request_id="ren-1")], []),
        {"total"},
        {Language.VI: "Bạn không cần làm gì thêm", Language.EN: "Nothing is needed"},
    ),
    "renewal_failed": (
        RenewalFailed(reason="insufficient_funds", detail="the wallet is short", **RENEWAL),
        Payments.of([], [short(request_id="ren-1")]),
        {"shortfall"},
        {Language.VI: "Hãy nạp thêm tiền", Language.EN: "Top up your credit wallet"},
    ),
    "resource_expired": (
        ResourceExpired(**RESOURCE),
        Payments(),
        set(),
        {Language.VI: "Hãy gia hạn trên portal", Language.EN: "Renew it in the portal"},
    ),
    "resource_suspended": (
        ResourceSuspended(**RESOURCE),
        Payments(),
        set(),
        {Language.VI: "Hãy gia hạn trên portal", Language.EN: "Renew it in the portal"},
    ),
    "resource_deletion_due": (
        ResourceDeletionDue(**RESOURCE),
        Payments(),
        set(),
        {Language.VI: "hãy gia hạn ngay", Language.EN: "renew it in the portal at once"},
    ),
    "resource_resumed": (
        ResourceResumed(**RESOURCE),
        Payments(),
        set(),
        {Language.VI: "Bạn không cần làm gì thêm", Language.EN: "Nothing is needed"},
    ),
}
# Their events carry no time to show.
TIMELESS = {"refund", "renewal_failed", "stop_poc_failed", "stop_poc_rejected"}
AMOUNTS = {
    "total": TOTAL,
    "shortfall": SHORTFALL,
    "refund": {Language.VI: "2.700.000 ₫", Language.EN: "2,700,000 VND"},
}


def test_every_kind_the_customer_is_told_has_a_case_here():
    assert set(CASES) == domain.TOLD_KINDS


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_kind_reads_in_the_customers_language_money_and_time_zone(kind, language):
    event, payments, amounts, next_step = CASES[kind]

    rendered = render(kind, event, payments, customer_id=CUSTOMER, language=language, timezone=ZONES[language])

    assert rendered.subject and "\n" not in rendered.subject
    for part in (rendered.text, rendered.html):
        assert "{{" not in part and "{%" not in part
        for amount in amounts:
            assert AMOUNTS[amount][language] in part, (kind, amount)
        assert NEXT[language] in part
        assert next_step[language] in part
    assert not re.search(r"[.][^\W\d_]", rendered.text), "a sentence runs into the next one"
    if kind not in TIMELESS:
        assert LOCAL_TIME[language] in rendered.text and LOCAL_TIME[language] in rendered.html
    other = Language.EN if language is Language.VI else Language.VI
    assert NEXT[other] not in rendered.text


@pytest.mark.parametrize("language", list(Language))
def test_a_conversion_shows_its_lines_vat_and_total(language):
    event, payments, _, _ = CASES["cluster_poc_stopped"]

    rendered = render("cluster_poc_stopped", event, payments, customer_id=CUSTOMER, language=language, timezone="UTC")

    money = Formats(language, "UTC").money
    assert money(8_700_000) in rendered.subject
    for figure in (6_000_000, 3_000_000, 300_000, 545_455, 245_455, 2_700_000, 790_910):
        assert money(figure) in rendered.text and money(figure) in rendered.html
    assert "srv-1" in rendered.html and "vol-1" in rendered.html and "(10%)" in rendered.text


def test_several_rounds_are_summed_to_the_dong():
    event = ClusterPocStopped(rounds=2, stopped_at=AT, **CONVERSION)
    payments = Payments.of([settled(1, payment_id="pay-1"), settled(2, payment_id="pay-2")], [])

    rendered = render(
        "cluster_poc_stopped", event, payments, customer_id=CUSTOMER, language=Language.EN, timezone="UTC"
    )

    assert "17,400,000 VND charged" in rendered.subject
    assert "Round 1:" in rendered.text and "Round 2:" in rendered.text
    assert "VAT included (10%): 1,581,820 VND" in rendered.text


def test_a_stop_without_an_order_says_nothing_was_charged():
    event = ClusterPocStopped(rounds=0, stopped_at=AT, **CONVERSION)

    rendered = render(
        "cluster_poc_stopped", event, Payments(), customer_id=CUSTOMER, language=Language.EN, timezone="UTC"
    )

    assert rendered.subject == f"Cluster {CLUSTER} is no longer a POC: nothing charged"
    assert "What it cost" not in rendered.text


def test_what_an_event_says_is_text_in_the_html_part_never_markup():
    event = StopPocRejected(reason="resource_not_found", detail="<script>alert(1)</script> & more", **CONVERSION)

    rendered = render(
        "stop_poc_rejected", event, Payments(), customer_id=CUSTOMER, language=Language.EN, timezone="UTC"
    )

    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in rendered.html
    assert "<script>alert(1)</script> & more" in rendered.text


@pytest.mark.parametrize(
    ("language", "amount", "expected"),
    [
        (Language.VI, 8_700_000, "8.700.000 ₫"),
        (Language.EN, 8_700_000, "8,700,000 VND"),
        (Language.VI, 0, "0 ₫"),
        (Language.EN, 999, "999 VND"),
        (Language.EN, -1_500, "-1,500 VND"),
    ],
)
def test_money_reads_as_the_customer_writes_it(language, amount, expected):
    assert Formats(language, "UTC").money(amount) == expected


def test_times_are_shown_in_the_customers_time_zone_and_a_naive_time_is_utc():
    naive = datetime(2025, 7, 1, 22, 30)

    assert Formats(Language.VI, "Asia/Ho_Chi_Minh").when(naive) == "05:30 ngày 02/07/2025 (UTC+07:00)"
    assert Formats(Language.EN, "America/New_York").when(naive) == "1 July 2025, 18:30 (UTC-04:00)"
    assert Formats(Language.EN, "Asia/Kolkata").day(naive) == "2 July 2025"
    assert Formats(Language.VI, "UTC").number(0.5) == "0,5" and Formats(Language.EN, "UTC").number(7.0) == "7"
