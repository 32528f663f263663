"""Integer VND arithmetic: rounding, allocation, the VAT part of a gross price."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stoppoc.shared.money import allocate, divide_half_up, vat_included


def test_a_coupon_splits_in_proportion_to_each_line():
    assert allocate(150_000, [1_000_000, 500_000]) == [100_000, 50_000]


def test_the_largest_remainders_get_the_leftover_units():
    # Exact shares 3.33…, 3.33…, 3.33…: the one leftover goes to the first of the tie.
    assert allocate(10, [1, 1, 1]) == [4, 3, 3]
    # Exact shares 1.4, 2.6, 1.0: floors 1, 2, 1 and the leftover to the .6.
    assert allocate(5, [7, 13, 5]) == [1, 3, 1]


def test_zero_weights_take_nothing():
    assert allocate(100, [0, 3, 0, 1]) == [0, 75, 0, 25]
    assert allocate(0, [0, 0]) == [0, 0]


@pytest.mark.parametrize(("total", "weights"), [(-1, [1]), (1, [-1, 2]), (1, [0, 0])])
def test_allocate_refuses_what_cannot_be_split(total, weights):
    with pytest.raises(ValueError):
        allocate(total, weights)


@given(
    total=st.integers(min_value=0, max_value=10**12),
    weights=st.lists(st.integers(min_value=0, max_value=10**10), min_size=1, max_size=40).filter(any),
)
def test_allocated_parts_add_up_and_the_leftover_goes_to_the_largest_remainders(total, weights):
    parts = allocate(total, weights)

    assert sum(parts) == total
    weight_sum = sum(weights)
    floors = [total * w // weight_sum for w in weights]
    assert all(part - floor in (0, 1) for part, floor in zip(parts, floors, strict=True))
    remainders = [total * w % weight_sum for w in weights]
    topped_up = [r for r, part, floor in zip(remainders, parts, floors, strict=True) if part > floor]
    left_alone = [r for r, part, floor in zip(remainders, parts, floors, strict=True) if part == floor]
    if topped_up and left_alone:
        assert min(topped_up) >= max(left_alone)


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(0, 3, 0), (10, 4, 3), (14, 4, 4), (6, 4, 2), (5, 10, 1), (4, 10, 0), (7, 1, 7)],
)
def test_divide_half_up(numerator, denominator, expected):
    assert divide_half_up(numerator, denominator) == expected


@pytest.mark.parametrize(("numerator", "denominator"), [(-1, 2), (1, 0), (1, -2)])
def test_divide_half_up_refuses_negative_or_zero(numerator, denominator):
    with pytest.raises(ValueError):
        divide_half_up(numerator, denominator)


@pytest.mark.parametrize(
    ("gross", "vat_percent", "vat"),
    [(1_100_000, 10, 100_000), (1_080_000, 8, 80_000), (1_000_000, 0, 0), (11, 10, 1), (5, 10, 0), (6, 10, 1)],
)
def test_vat_included_is_the_vat_part_of_a_gross_price(gross, vat_percent, vat):
    assert vat_included(gross, vat_percent) == vat


@given(gross=st.integers(min_value=0, max_value=10**12), vat_percent=st.integers(min_value=0, max_value=100))
def test_vat_included_is_the_nearest_unit_and_never_above_the_gross(gross, vat_percent):
    vat = vat_included(gross, vat_percent)

    assert 0 <= vat <= gross
    # |vat - gross × r / (100 + r)| ≤ 1/2
    assert abs(2 * (vat * (100 + vat_percent) - gross * vat_percent)) <= 100 + vat_percent
