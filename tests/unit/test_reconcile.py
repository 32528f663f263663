"""``stoppoc reconcile`` finds every disagreement between checkout's orders and payment's books."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from stoppoc.cli.reconcile import Books, reconcile
from stoppoc.services.checkout.queries import OrderTotal
from stoppoc.services.payment.queries import (
    LedgerMovement,
    PaymentLines,
    PaymentRow,
    SettledPayment,
    WalletAgainstLedger,
)

DAY = datetime(2026, 11, 2, 9, tzinfo=UTC)
LINES = [{"resource_id": "srv-1", "total": 600}, {"resource_id": "vol-1", "total": 400}]


def payment_row(order_id: str, status: str = "settled") -> PaymentRow:
    return PaymentRow(f"p-{order_id}", order_id, "c-1", "k-1", 1, 1000, status, None, 0, None, DAY, DAY)


def movement(entry_id: int, kind: str, amount: int, reference: str, before: int, **changes) -> LedgerMovement:
    row = LedgerMovement(entry_id, "c-1", kind, amount, reference, None, before + amount, DAY, before)
    return replace(row, **changes)


def clean_books() -> Books:
    """c-1 tops up 5000, pays order o-1 (1000), gets 400 back for vol-1."""
    return Books(
        orders=[OrderTotal("o-1", "c-1", 1000, DAY)],
        payments_of_orders=[payment_row("o-1")],
        settled=[SettledPayment("p-o-1", "o-1", "c-1", 1000, DAY, 1000)],
        movements=[
            movement(1, "credit", 5000, "topup-1", 0),
            movement(2, "debit", -1000, "order:o-1", 5000),
            movement(3, "refund", 400, "refund:p-o-1:vol-1", 4000),
        ],
        refunded_payments=[PaymentLines("p-o-1", "settled", LINES)],
        wallets=[WalletAgainstLedger("c-1", 4400, 4400)],
        since=DAY - timedelta(hours=9),
        until=DAY + timedelta(hours=15),
    )


def kinds(books: Books) -> list[str]:
    return sorted(m.kind for m in reconcile(books)[1])


def test_books_that_agree_give_the_day_side_by_side_and_no_mismatch():
    days, mismatches = reconcile(clean_books())

    assert mismatches == []
    (key, day), *others = days.items()
    assert key == ("c-1", DAY.date()) and others == []
    assert (day.orders, day.ordered, day.settled, day.debited, day.refunded, day.credited) == (
        1,
        1000,
        1000,
        1000,
        400,
        5000,
    )


def test_an_order_nobody_paid_is_listed():
    books = replace(clean_books(), orders=[*clean_books().orders, OrderTotal("o-2", "c-1", 50, DAY)])
    assert kinds(books) == ["order_without_payment"]


def test_a_settlement_that_differs_from_its_order_or_its_lines_or_its_debit_is_listed():
    books = clean_books()
    assert kinds(replace(books, orders=[OrderTotal("o-1", "c-1", 999, DAY)])) == ["settlement_differs_from_order"]
    assert kinds(replace(books, orders=[])) == ["settlement_without_order"]
    lines_off = [replace(books.settled[0], lines_total=900)]
    assert kinds(replace(books, settled=lines_off)) == ["lines_do_not_add_up"]


def test_a_settlement_without_its_debit_and_a_debit_without_its_settlement_are_listed():
    books = clean_books()
    no_debit = [m for m in books.movements if m.kind != "debit"]
    chained = [no_debit[0], replace(no_debit[1], balance_before=5000, balance_after=5400)]
    assert kinds(replace(books, movements=chained)) == ["settlement_without_debit"]
    assert kinds(replace(books, settled=[])) == ["debit_without_settlement"]
    twice = [replace(books.movements[1], amount=-2000, balance_after=3000), *books.movements[2:]]
    assert "debit_differs_from_settlement" in kinds(replace(books, movements=[books.movements[0], *twice]))


def test_refunds_that_give_back_more_than_a_settled_line_are_listed():
    books = clean_books()
    too_much = replace(books.movements[2], amount=500, balance_after=4500)
    assert kinds(replace(books, movements=[*books.movements[:2], too_much])) == ["refund_exceeds_line"]
    stranger = replace(books.movements[2], reference="refund:p-o-1:lb-9")
    assert kinds(replace(books, movements=[*books.movements[:2], stranger])) == ["refund_of_no_line"]
    assert kinds(replace(books, refunded_payments=[])) == ["refund_without_settlement"]


def test_a_broken_ledger_chain_and_a_wallet_apart_from_its_ledger_are_listed():
    books = clean_books()
    broken = replace(books.movements[1], balance_after=4100)
    assert "ledger_chain_broken" in kinds(replace(books, movements=[books.movements[0], broken, books.movements[2]]))
    assert kinds(replace(books, wallets=[WalletAgainstLedger("c-1", 4401, 4400)])) == ["wallet_differs_from_ledger"]
