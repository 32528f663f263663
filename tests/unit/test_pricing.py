"""Checkout's pricing, without infrastructure."""

from hypothesis import given
from hypothesis import strategies as st

from services.checkout import domain
from shared.contract.events import RequestedResource
from shared.money import vat_included

CATALOG = domain.Catalog(
    server_monthly={"general-2c4g": 600_000, "general-4c8g": 1_200_000, "memory-4c32g": 2_200_000},
    volume_gib_monthly={"ssd-standard": 3_000, "ssd-premium": 5_000, "hdd-standard": 1_500},
)
RULES = domain.PricingRules(vat_percent=10, usage_cycles=(1, 3, 6, 12, 24, 36))


def server(resource_id: str, flavor: str = "general-2c4g") -> RequestedResource:
    return RequestedResource(
        resource_id=resource_id, kind="server", spec={"flavor": flavor, "vcpu": 2, "ram_gib": 4}
    )


def volume(resource_id: str, size_gib: int = 20, volume_type: str = "ssd-standard") -> RequestedResource:
    return RequestedResource(
        resource_id=resource_id,
        kind="volume",
        spec={"size_gib": size_gib, "volume_type": volume_type, "role": "boot"},
    )


def price(resources, *, cycle=1, coupon_code=None, rules=RULES):
    return domain.price_round(resources, CATALOG, rules, usage_cycle_months=cycle, coupon_code=coupon_code)


def test_a_server_and_its_boot_volume_are_priced_for_the_cycle():
    order = price([server("srv-1", "general-4c8g"), volume("vol-1", 50, "ssd-premium")], cycle=3)

    assert order.lines == (
        domain.Line("srv-1", "server", 3_600_000, 0, 327_273, 3_600_000),
        domain.Line("vol-1", "volume", 750_000, 0, 68_182, 750_000),
    )
    assert (order.subtotal, order.discount, order.tax, order.total) == (4_350_000, 0, 395_455, 4_350_000)


def test_the_vat_is_the_part_of_the_listed_price_it_already_holds():
    order = price([volume("vol-1", 110, "ssd-standard")], rules=domain.PricingRules(8, (1,)))

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


def test_a_coupon_code_is_rejected_rather_than_ignored():
    rejection = price([server("srv-1")], coupon_code="WELCOME10")

    assert rejection.reason == domain.COUPON_NOT_SUPPORTED and "WELCOME10" in rejection.detail


def test_a_discount_step_comes_off_each_line_before_vat():
    resources = [server("srv-1"), volume("vol-1")]

    order = domain.build_order(resources, [1_100_000, 220_000], lambda amounts: [100_000, 0], vat_percent=10)

    assert [(line.amount, line.discount, line.total, line.tax) for line in order.lines] == [
        (1_100_000, 100_000, 1_000_000, 90_909),
        (220_000, 0, 220_000, 20_000),
    ]
    assert (order.subtotal, order.discount, order.total) == (1_320_000, 100_000, 1_220_000)


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


@given(
    resources=st.lists(priceable, min_size=1, max_size=30),
    cycle=st.sampled_from(RULES.usage_cycles),
    vat_percent=st.integers(min_value=0, max_value=100),
)
def test_an_order_adds_up_exactly_to_its_lines(resources, cycle, vat_percent):
    rules = domain.PricingRules(vat_percent, RULES.usage_cycles)

    order = price(resources, cycle=cycle, rules=rules)

    assert [line.resource_id for line in order.lines] == [r.resource_id for r in resources]
    assert order.total == sum(line.total for line in order.lines)
    assert order.subtotal == sum(line.amount for line in order.lines)
    assert order.discount == sum(line.discount for line in order.lines)
    assert order.tax == sum(line.tax for line in order.lines)
    assert order.total == order.subtotal - order.discount
    for resource, line in zip(resources, order.lines, strict=True):
        assert line.amount == domain.monthly_price(resource, CATALOG) * cycle > 0
        assert 0 <= line.discount <= line.amount and line.total == line.amount - line.discount
        assert 0 <= line.tax <= line.total and line.tax == vat_included(line.total, vat_percent)
