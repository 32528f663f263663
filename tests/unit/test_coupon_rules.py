"""Whether a customer may use a coupon, and what a coupon upsert may say, without infrastructure."""

from datetime import UTC, datetime, timedelta

import pytest

from stoppoc.contract.commands import CouponUpsert
from stoppoc.contract.errors import InvalidData
from stoppoc.services.checkout import coupons
from stoppoc.services.checkout.domain import CouponDiscount

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UNUSED = coupons.Usage(total=0, by_customer=0)


def coupon(**overrides) -> coupons.Coupon:
    return coupons.Coupon(**{"code": "SPRING", "kind": "percent", "value": 10, **overrides})


def offer(found: coupons.Coupon | None, usage: coupons.Usage = UNUSED, at: datetime = NOW):
    return coupons.offer("SPRING", found, usage, "cus-1", at)


def test_a_coupon_in_its_window_and_under_its_limits_gives_its_discount():
    limited = coupon(valid_from=NOW, valid_until=NOW, max_redemptions=5, per_customer_limit=2)

    assert offer(limited, coupons.Usage(total=4, by_customer=1)) == CouponDiscount("SPRING", "percent", 10)
    assert offer(coupon(kind="fixed", value=50_000)) == CouponDiscount("SPRING", "fixed", 50_000)


@pytest.mark.parametrize(
    ("found", "usage", "reason", "named"),
    [
        (None, UNUSED, coupons.COUPON_NOT_FOUND, "'SPRING'"),
        (coupon(valid_from=NOW + timedelta(seconds=1)), UNUSED, coupons.COUPON_NOT_YET_VALID, "2026-03-01T12:00:01"),
        (coupon(valid_until=NOW - timedelta(seconds=1)), UNUSED, coupons.COUPON_EXPIRED, "2026-03-01T11:59:59"),
        (coupon(max_redemptions=3), coupons.Usage(3, 0), coupons.COUPON_EXHAUSTED, "3 of 3"),
        (coupon(max_redemptions=0), UNUSED, coupons.COUPON_EXHAUSTED, "0 of 0"),
        (coupon(per_customer_limit=1), coupons.Usage(7, 1), coupons.COUPON_LIMIT_REACHED, "cus-1"),
    ],
)
def test_each_reason_a_coupon_cannot_be_used_has_its_own_code(found, usage, reason, named):
    refused = offer(found, usage)

    assert refused.reason == reason and named in refused.detail


def test_the_total_limit_is_checked_before_the_customer_limit():
    both = coupon(max_redemptions=2, per_customer_limit=2)

    assert offer(both, coupons.Usage(total=2, by_customer=2)).reason == coupons.COUPON_EXHAUSTED


def test_a_time_without_a_zone_is_taken_as_utc():
    assert offer(coupon(valid_until=NOW), at=NOW.replace(tzinfo=None)) == coupon().discount
    assert offer(coupon(valid_until=NOW), at=(NOW + timedelta(hours=1)).replace(tzinfo=None)).reason == "coupon_expired"


def test_an_upsert_stores_the_code_upper_case_and_its_times_in_utc():
    command = CouponUpsert(
        code="Spring-26",
        kind="fixed",
        value=100_000,
        valid_from="2026-03-01T00:00:00",
        valid_until="2026-03-31T23:59:59+07:00",
        max_redemptions=100,
        per_customer_limit=1,
    )

    stored = coupons.from_command(command)

    assert stored == coupons.Coupon(
        "SPRING-26",
        "fixed",
        100_000,
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 31, 16, 59, 59, tzinfo=UTC),
        100,
        1,
    )
    assert coupons.normalize_code("spring-26") == stored.code


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"kind": "percent", "value": 101}, "1 to 100 percent"),
        (
            {
                "kind": "percent",
                "value": 10,
                "valid_from": "2026-04-01T00:00:00Z",
                "valid_until": "2026-03-01T00:00:00Z",
            },
            "after valid_until",
        ),
    ],
)
def test_an_upsert_that_makes_no_sense_is_invalid_data(fields, complaint):
    with pytest.raises(InvalidData, match=complaint):
        coupons.from_command(CouponUpsert(code="X", **fields))


def test_a_later_round_takes_a_percent_coupons_percent_again_and_what_is_left_of_a_fixed_one():
    percent = coupons.HeldRedemption("TEN", "percent", 10, discount=90_000, status="redeemed")
    fixed = coupons.HeldRedemption("FLAT", "fixed", 150_000, discount=30_000, status="reserved")
    spent = coupons.HeldRedemption("FLAT", "fixed", 150_000, discount=150_000, status="redeemed")

    assert coupons.still_to_spend(percent) == CouponDiscount("TEN", "percent", 10)
    assert coupons.still_to_spend(fixed) == CouponDiscount("FLAT", "fixed", 120_000)
    assert coupons.still_to_spend(spent).amount_off(1_000_000) == 0
