"""Wallet arithmetic, with no infrastructure."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stoppoc.services.payment import domain

amounts = st.integers(min_value=0, max_value=10**13)


@given(balance=amounts, amount=amounts)
def test_a_settlement_takes_all_or_nothing_and_never_goes_below_zero(balance, amount):
    outcome = domain.settle(balance, amount)
    assert outcome.balance_after >= 0
    if outcome.settled:
        assert (outcome.balance_after, outcome.shortfall) == (balance - amount, 0)
    else:
        assert (outcome.balance_after, outcome.shortfall) == (balance, amount - balance)
    assert outcome.settled == (amount <= balance)


def test_paying_exactly_the_balance_empties_the_wallet():
    assert domain.settle(500, 500) == domain.Settlement(settled=True, balance_after=0, shortfall=0)


@pytest.mark.parametrize("amount", [0, -1])
def test_a_credit_must_be_positive(amount):
    with pytest.raises(ValueError):
        domain.credit(100, amount)


def test_negative_inputs_are_refused():
    with pytest.raises(ValueError):
        domain.settle(-1, 10)


NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def waiting(order_id: str, amount: int, seconds_left: float) -> domain.Waiting:
    return domain.Waiting(order_id, amount, NOW + timedelta(seconds=seconds_left))


def test_an_order_waits_the_configured_time_and_a_zero_wait_means_none():
    assert domain.wait_deadline(NOW, 1800) == datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    assert domain.wait_deadline(NOW, 0.5) == NOW + timedelta(milliseconds=500)
    assert domain.wait_deadline(NOW, 0) is None
    with pytest.raises(ValueError):
        domain.wait_deadline(NOW, -1)


def test_waiting_orders_settle_in_the_order_they_came_and_stop_at_the_first_not_covered():
    orders = [waiting("old", 300, 10), waiting("big", 5_000, 20), waiting("young", 100, 30)]

    decisions = domain.resolve_waits(450, orders, NOW)

    # "old" settles; "big" is not covered and still in time, so "young" waits behind it
    # although the balance left would cover it.
    assert decisions == [("old", domain.Settlement(settled=True, balance_after=150, shortfall=0))]


def test_an_order_past_its_deadline_fails_with_its_shortfall_and_lets_the_next_one_settle():
    orders = [waiting("late", 1_000, 0), waiting("next", 100, 60), waiting("last", 200, 90)]

    decisions = domain.resolve_waits(250, orders, NOW)

    assert decisions == [
        ("late", domain.Settlement(settled=False, balance_after=250, shortfall=750)),
        ("next", domain.Settlement(settled=True, balance_after=150, shortfall=0)),
    ]


def test_an_order_past_its_deadline_that_the_balance_covers_settles():
    # It was held back by an older order that has failed meanwhile; its money came in time.
    assert domain.resolve_waits(100, [waiting("late", 100, -5)], NOW) == [
        ("late", domain.Settlement(settled=True, balance_after=0, shortfall=0))
    ]


def test_an_order_behind_a_blocked_one_fails_at_its_deadline_without_settling_ahead_of_it():
    # Waits of different lengths (the setting changed): the younger one's deadline came first.
    orders = [waiting("blocker", 500, 60), waiting("younger", 100, -1)]

    decisions = domain.resolve_waits(200, orders, NOW)

    # What it lacked counts what the older order will take first: 100 + 500 - 200.
    assert decisions == [("younger", domain.Settlement(settled=False, balance_after=200, shortfall=400))]


def test_nothing_is_decided_for_orders_in_time_the_balance_does_not_cover():
    assert domain.resolve_waits(0, [waiting("a", 1, 5), waiting("b", 2, 6)], NOW) == []


@given(
    balance=amounts,
    orders=st.lists(st.tuples(st.integers(min_value=0, max_value=10**9), st.integers(-100, 100)), max_size=8),
)
def test_resolving_waits_never_spends_more_than_the_balance_nor_settles_out_of_order(balance, orders):
    waits = [waiting(f"o{i}", amount, left) for i, (amount, left) in enumerate(orders)]
    decisions = dict(domain.resolve_waits(balance, waits, NOW))

    running, ahead = balance, 0
    for order in waits:
        outcome = decisions.get(order.order_id)
        if outcome is None:  # still waiting: in time, and not covered after what waits ahead of it
            assert order.wait_until > NOW and order.amount + ahead > running
            ahead += order.amount
            continue
        assert outcome == domain.settle_at_once(running, ahead, order.amount)
        assert outcome.settled or order.wait_until <= NOW  # only a wait that is over fails
        assert not (outcome.settled and ahead)  # never settled ahead of an older one still waiting
        running = outcome.balance_after
    assert 0 <= running <= balance


def test_settling_at_once_leaves_what_older_waiting_orders_will_take():
    assert domain.settle_at_once(1_000, 300, 700) == domain.Settlement(settled=True, balance_after=300, shortfall=0)
    assert domain.settle_at_once(1_000, 300, 701) == domain.Settlement(settled=False, balance_after=1_000, shortfall=1)
    # Older orders waiting for more than the balance: nothing is left, the top-up needed is the lot.
    assert domain.settle_at_once(100, 500, 50) == domain.Settlement(settled=False, balance_after=100, shortfall=450)


@pytest.mark.parametrize(
    ("reference", "kind", "payment_id"),
    [
        ("refund:pay-1:srv-1", "refund", "pay-1"),
        ("topup-1", "credit", None),
        ("bank:refund:1", "credit", None),
        ("refund:", "refund", None),
    ],
)
def test_a_credit_referencing_a_refund_is_a_refund(reference, kind, payment_id):
    assert domain.credit_kind(reference) == kind
    assert domain.refunded_payment_id(reference) == payment_id
