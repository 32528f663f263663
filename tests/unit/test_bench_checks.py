"""What ``stoppoc bench`` calls a reconciled wallet, and its percentiles."""

from datetime import UTC, datetime

import pytest

from stoppoc.cli.bench_checks import wallet_problems
from stoppoc.cli.bench_report import percentile
from stoppoc.services.payment.queries import LedgerEntry, PaymentRow, WalletRow

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def entry(kind: str, amount: int, balance_after: int, order_id: str | None = None) -> LedgerEntry:
    return LedgerEntry(kind, amount, f"{kind}-{order_id or amount}", order_id, balance_after, NOW)


def payment(order_id: str, amount: int, status: str = "settled") -> PaymentRow:
    return PaymentRow(f"pay-{order_id}", order_id, "c", "k", 1, amount, status, None, 0, None, NOW, NOW)


def check(balance: int, ledger: list[LedgerEntry], payments: list[PaymentRow], credited: int = 1000) -> list[str]:
    return wallet_problems("c", credited, WalletRow("c", balance, NOW), ledger, payments)


def test_a_wallet_whose_ledger_explains_it_reconciles():
    ledger = [entry("credit", 1000, 1000), entry("debit", -300, 700, "o1"), entry("refund", 50, 750)]
    assert check(750, ledger, [payment("o1", 300)]) == []


@pytest.mark.parametrize(
    ("balance", "ledger", "payments", "why"),
    [
        (700, [entry("credit", 1000, 1000), entry("debit", -300, 600, "o1")], [payment("o1", 300)], "says 600"),
        (800, [entry("credit", 1000, 1000), entry("debit", -300, 700, "o1")], [payment("o1", 300)], "balance 800"),
        (1000, [entry("credit", 1000, 1000)], [payment("o1", 300)], "not the settled payments"),
        (700, [entry("credit", 1000, 1000), entry("debit", -300, 700, "o1")], [], "not the settled payments"),
        (
            400,
            [entry("credit", 1000, 1000), entry("debit", -300, 700, "o1"), entry("debit", -300, 400, "o1")],
            [payment("o1", 300)],
            "not the settled payments",
        ),
        (1000, [entry("credit", 1000, 1000)], [payment("o1", 300, "awaiting_funds")], "waiting for funds"),
    ],
    ids=["running balance", "balance", "debit missing", "debit unpaid", "charged twice", "still waiting"],
)
def test_a_wallet_that_does_not_add_up_is_named_with_the_reason(balance, ledger, payments, why):
    problems = check(balance, ledger, payments)
    assert problems and any(why in problem for problem in problems), problems


def test_credits_must_be_exactly_what_was_credited():
    assert any("credited 2000" in p for p in check(1000, [entry("credit", 1000, 1000)], [], credited=2000))


def test_no_wallet_at_all_is_a_problem():
    assert wallet_problems("c", 1000, None, [], []) == ["c: no wallet"]


def test_percentiles_are_nearest_rank():
    ordered = [float(n) for n in range(1, 101)]
    assert [percentile(ordered, p) for p in (50, 95, 99, 100)] == [50.0, 95.0, 99.0, 100.0]
    assert percentile([7.0], 99) == 7.0
