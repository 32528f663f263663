"""Checkout's pricing, without infrastructure."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stoppoc.contract.events import RequestedResource
from stoppoc.services.checkout import domain
from stoppoc.shared.money import divide_half_up, vat_included

CATALOG = domain.Catalog(
    server_monthly={"general-2c4g": 600_000, "general-4c8g": 1_200_000, "memory-4c32g": 2_200_000},
    volume_gib_monthly={"ssd-standard": 3_000, "ssd-premium": 5_000, "hdd-standard": 1_500},
)
CYCLES = {1: 0, 3: 0, 6: 5, 12: 10, 24: 15, 36: 20}
RULES = domain.PricingRules(vat_percent=10, cycle_discounts=CYCLES)


def server(resource_id: str, flavor: str = "general-2c4g") -> RequestedResource:
    return RequestedResource(resource_id=resource_id, kind="server", spec={"flavor": flavor, "vcpu": 2, "ram_gib": 4})


def volume(resource_id: str, size_gib: int = 20, volume_type: str = "ssd-standard") -> RequestedResource:
    return RequestedResource(
        resource_id=resource_id,
        kind="volume",
        spec={"size_gib": size_gib, "volume_type": volume_type, "role": "boot"},
    )


def price(resources, *, cycle=1, coupon=None, rules=RULES):
    return domain.price_round(resources, CATALOG, rules, usage_cycle_months=cycle, coupon=coupon)


def test_a_server_and_its_boot_volume_are_priced_for_the_cycle():
    order = price([server("srv-1", "general-4c8g"), volume("vol-1", 50, "ssd-premium")], cycle=3)

    assert order.lines == (
        domain.Line("srv-1", "server", 3_600_000, 0, 327_273, 3_600_000, 0, 0, 10),
        domain.Line("vol-1", "volume", 750_000, 0, 68_182, 750_000, 0, 0, 10),
    )
    assert (order.subtotal, order.discount, order.tax, order.total) == (4_350_000, 0, 395_455, 4_350_000)


def test_the_vat_is_the_part_of_the_listed_price_it_already_holds():
    order = price([volume("vol-1", 110, "ssd-standard")], rules=domain.PricingRules(8, {1: 0}))

    assert order.total == 330_000  # VAT is never added on top
    assert order.tax == 24_444  # 330,000 × 8 / 108 = 24,444.4


def test_resources_the_catalog_cannot_price_are_all_named():
    rejection = price(
        [
            server("srv-1"),
            server("srv-2", "gpu-a100"),
            volume("vol-1", volume_type="nvme-ultra"),
            RequestedResource(resource_id="lb-1", kind="load_balancer", spec={}),
        ]
    )

    assert rejection.reason == domain.UNPRICED_RESOURCE
    for named in ("srv-2", "'gpu-a100'", "vol-1", "'nvme-ultra'", "lb-1", "load_balancer"):
        assert named in rejection.detail
    assert "srv-1" not in rejection.detail


def test_a_resource_with_a_malformed_spec_is_unpriced_not_free():
    broken = RequestedResource(resource_id="vol-9", kind="volume", spec={"volume_type": "ssd-standard"})

    rejection = price([broken])

    assert rejection.reason == domain.UNPRICED_RESOURCE and "vol-9" in rejection.detail


def test_a_cycle_that_is_not_offered_is_rejected():
    rejection = price([server("srv-1")], cycle=2)

    assert rejection == domain.Rejection(
        domain.INVALID_USAGE_CYCLE, "a usage cycle of 2 months is not offered (offered: 1, 3, 6, 12, 24, 36)"
    )


def test_each_cycle_takes_its_discount_off_each_line_before_vat():
    order = price([server("srv-1", "general-4c8g"), volume("vol-1", 25, "ssd-standard")], cycle=12)

    # 12 × 1,200,000 = 14,400,000 less 10%; 12 × 25 × 3,000 = 900,000 less 10%.
    assert [
        (line.amount, line.cycle_discount, line.coupon_discount, line.discount, line.total, line.tax)
        for line in order.lines
    ] == [
        (14_400_000, 1_440_000, 0, 1_440_000, 12_960_000, 1_178_182),
        (900_000, 90_000, 0, 90_000, 810_000, 73_636),
    ]
    assert (order.subtotal, order.discount, order.total, order.coupon_code) == (15_300_000, 1_530_000, 13_770_000, None)


def test_a_cycle_discount_is_rounded_half_up_per_line():
    rules = domain.PricingRules(10, {6: 5})

    order = price([volume("vol-1", 1, "hdd-standard")], cycle=6, rules=rules)

    # 6 × 1,500 = 9,000; 5% = 450 exactly. 7 GiB: 63,000 × 5% = 3,150.
    assert order.lines[0].cycle_discount == 450
    assert price([volume("v", 7, "hdd-standard")], cycle=6, rules=rules).lines[0].cycle_discount == 3_150
    odd = domain.build_order([volume("v")], [10_010], 5, None, 10)
    assert odd.lines[0].cycle_discount == 501  # 500.5 rounds up


def test_a_coupon_is_split_across_lines_in_proportion_to_their_value():
    lines = [server("srv-1", "general-4c8g"), volume("vol-1", 100, "ssd-premium")]
    fixed = domain.CouponDiscount("SAVE150K", domain.FIXED, 150_000)

    order = domain.build_order(lines, [1_000_000, 500_000], 0, fixed, vat_percent=10)

    assert [(line.coupon_discount, line.total) for line in order.lines] == [(100_000, 900_000), (50_000, 450_000)]
    assert [line.tax for line in order.lines] == [vat_included(900_000, 10), vat_included(450_000, 10)]
    assert (order.coupon_code, order.coupon_discount, order.total) == ("SAVE150K", 150_000, 1_350_000)


def test_a_percent_coupon_comes_off_what_the_cycle_discount_left():
    coupon = domain.CouponDiscount("TEN", domain.PERCENT, 10)

    order = price([server("srv-1", "general-4c8g"), server("srv-2")], cycle=6, coupon=coupon)

    # 7,200,000 and 3,600,000 less 5% = 6,840,000 and 3,420,000 (10,260,000); 10% of it = 1,026,000.
    assert [line.cycle_discount for line in order.lines] == [360_000, 180_000]
    assert [line.coupon_discount for line in order.lines] == [684_000, 342_000]
    assert [line.total for line in order.lines] == [6_156_000, 3_078_000]
    assert order.discount == 360_000 + 180_000 + 1_026_000 and order.total == 9_234_000


def test_the_leftover_dong_of_a_split_goes_to_the_largest_remainder():
    coupon = domain.CouponDiscount("TEN", domain.FIXED, 10)

    order = domain.build_order([server("a"), server("b"), server("c")], [100, 100, 100], 0, coupon, 10)

    assert [line.coupon_discount for line in order.lines] == [4, 3, 3]
    assert order.total == 290


def test_a_fixed_coupon_larger_than_the_order_makes_it_free_never_negative():
    coupon = domain.CouponDiscount("BIG", domain.FIXED, 50_000_000)

    order = price([server("srv-1"), volume("vol-1")], cycle=12, coupon=coupon)

    assert order.total == 0 and order.tax == 0
    assert all(line.total == 0 and line.discount == line.amount for line in order.lines)
    assert order.coupon_discount == sum(line.amount - line.cycle_discount for line in order.lines)


def test_a_full_percent_coupon_makes_the_order_free():
    order = price([server("srv-1")], cycle=3, coupon=domain.CouponDiscount("ALL", domain.PERCENT, 100))

    assert (order.subtotal, order.discount, order.total) == (1_800_000, 1_800_000, 0)


def test_a_refused_coupon_rejects_the_round_after_the_cycle_and_the_prices():
    refused = domain.Rejection("coupon_expired", "coupon 'OLD' expired")

    assert price([server("srv-1")], coupon=refused) == refused
    assert price([server("srv-1")], cycle=2, coupon=refused).reason == domain.INVALID_USAGE_CYCLE
    assert price([server("srv-1", "gpu-a100")], coupon=refused).reason == domain.UNPRICED_RESOURCE


def test_no_resources_price_to_an_empty_order_of_zero():
    order = price([], cycle=12, coupon=domain.CouponDiscount("BIG", domain.FIXED, 100_000))

    assert order.lines == () and (order.subtotal, order.discount, order.tax, order.total) == (0, 0, 0, 0)


def test_a_cycle_discount_outside_0_to_100_percent_is_a_configuration_error():
    with pytest.raises(ValueError):
        domain.PricingRules(10, {1: 0, 12: 101})


def test_the_catalog_keys_are_the_flavors_and_types_in_the_round():
    resources = [server("a", "general-4c8g"), server("b", "general-4c8g"), volume("c", volume_type="hdd-standard")]

    assert domain.catalog_keys(resources) == (["general-4c8g"], ["hdd-standard"])


priceable = st.one_of(
    st.builds(server, st.uuids().map(str), st.sampled_from(sorted(CATALOG.server_monthly))),
    st.builds(
        volume,
        st.uuids().map(str),
        st.integers(min_value=1, max_value=64_000),
        st.sampled_from(sorted(CATALOG.volume_gib_monthly)),
    ),
)


coupons = st.one_of(
    st.none(),
    st.builds(domain.CouponDiscount, st.just("PCT"), st.just(domain.PERCENT), st.integers(1, 100)),
    st.builds(domain.CouponDiscount, st.just("FIX"), st.just(domain.FIXED), st.integers(1, 10**10)),
)


@given(
    resources=st.lists(priceable, min_size=1, max_size=30),
    cycles=st.dictionaries(st.integers(1, 48), st.integers(0, 100), min_size=1),
    pick=st.integers(min_value=0),
    coupon=coupons,
    vat_percent=st.integers(min_value=0, max_value=100),
)
def test_an_order_adds_up_exactly_to_its_lines(resources, cycles, pick, coupon, vat_percent):
    cycle = sorted(cycles)[pick % len(cycles)]
    rules = domain.PricingRules(vat_percent, cycles)

    order = price(resources, cycle=cycle, coupon=coupon, rules=rules)

    assert [line.resource_id for line in order.lines] == [r.resource_id for r in resources]
    assert order.total == sum(line.total for line in order.lines)
    assert order.subtotal == sum(line.amount for line in order.lines)
    assert order.discount == sum(line.discount for line in order.lines)
    assert order.tax == sum(line.tax for line in order.lines)
    assert order.total == order.subtotal - order.discount
    for resource, line in zip(resources, order.lines, strict=True):
        assert line.amount == domain.monthly_price(resource, CATALOG) * cycle > 0
        assert line.cycle_discount == divide_half_up(line.amount * cycles[cycle], 100)
        assert line.discount == line.cycle_discount + line.coupon_discount
        assert 0 <= line.discount <= line.amount and line.total == line.amount - line.discount >= 0
        assert 0 <= line.tax <= line.total and line.tax == vat_included(line.total, vat_percent)
    # The coupon takes exactly its discount off what the cycle left, never more than that.
    base = order.subtotal - sum(line.cycle_discount for line in order.lines)
    assert order.coupon_discount == (coupon.amount_off(base) if coupon else 0) <= base
    if coupon and coupon.kind == domain.FIXED:
        assert order.coupon_discount == min(coupon.value, base)
    for line in order.lines:  # each line's share is its exact proportional share, within one dong
        exact_share_times_base = order.coupon_discount * (line.amount - line.cycle_discount)
        assert abs(line.coupon_discount * base - exact_share_times_base) < max(base, 1)


def test_an_order_must_charge_exactly_the_total_the_customer_was_shown():
    order = price([server("srv-1")])

    assert domain.check_expected_total(order, None) is None
    assert domain.check_expected_total(order, order.total) is None
    changed = domain.check_expected_total(order, order.total - 1)
    assert changed.reason == "price_changed"
    assert f"{order.total} VND" in changed.detail and f"{order.total - 1} VND" in changed.detail
