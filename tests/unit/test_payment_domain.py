"""Wallet arithmetic, with no infrastructure."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.payment import domain

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
