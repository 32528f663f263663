"""Pricing a round of a conversion: pure functions, no I/O.

Each resource is priced from the catalog for the usage cycle (its ``amount``). The cycle's
discount comes off each line, then a coupon's discount comes off what is left, split across the
lines in proportion to their value; what remains is the line's total. Listed prices include
VAT, so the VAT is the part of each total it already holds, never added on top.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from stoppoc.contract.base import Rejection, ResourceKind
from stoppoc.contract.commands import SPEC_BY_KIND, ServerSpec
from stoppoc.contract.events import RequestedResource
from stoppoc.shared.money import allocate, divide_half_up, vat_included

UNPRICED_RESOURCE = "unpriced_resource"
INVALID_USAGE_CYCLE = "invalid_usage_cycle"
PRICE_CHANGED = "price_changed"
PERCENT = "percent"
FIXED = "fixed"


@dataclass(frozen=True)
class Catalog:
    server_monthly: Mapping[str, int]  # flavor -> VND per month
    volume_gib_monthly: Mapping[str, int]  # volume type -> VND per GiB per month


@dataclass(frozen=True)
class PricingRules:
    vat_percent: int
    cycle_discounts: Mapping[int, int]  # usage cycle in months -> percent off

    def __post_init__(self) -> None:
        if not all(0 <= percent <= 100 for percent in self.cycle_discounts.values()):
            raise ValueError(f"a usage cycle's discount must be 0..100 percent: {dict(self.cycle_discounts)}")


@dataclass(frozen=True)
class CouponDiscount:
    """What a coupon the customer may use takes off the order."""

    code: str
    kind: str  # PERCENT or FIXED
    value: int  # percent (1..100) or VND

    def amount_off(self, base: int) -> int:
        """The discount on an order whose lines come to ``base`` after the cycle discount."""
        if self.kind == PERCENT:
            return divide_half_up(base * self.value, 100)
        return min(self.value, base)  # a fixed amount never takes the order below zero


@dataclass(frozen=True)
class Line:
    resource_id: str
    kind: str
    amount: int
    discount: int  # cycle_discount + coupon_discount
    tax: int
    total: int
    cycle_discount: int
    coupon_discount: int
    vat_percent: int


@dataclass(frozen=True)
class Order:
    lines: tuple[Line, ...]
    coupon: CouponDiscount | None = None  # the coupon it was priced with

    @property
    def coupon_code(self) -> str | None:
        return self.coupon.code if self.coupon else None

    @property
    def subtotal(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def discount(self) -> int:
        return sum(line.discount for line in self.lines)

    @property
    def coupon_discount(self) -> int:
        return sum(line.coupon_discount for line in self.lines)

    @property
    def tax(self) -> int:
        return sum(line.tax for line in self.lines)

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines)


def catalog_keys(resources: Sequence[RequestedResource]) -> tuple[list[str], list[str]]:
    """The flavors and volume types whose prices a round needs."""
    flavors = {r.spec.get("flavor") for r in resources if r.kind == ResourceKind.SERVER}
    volume_types = {r.spec.get("volume_type") for r in resources if r.kind == ResourceKind.VOLUME}
    return sorted(k for k in flavors if isinstance(k, str)), sorted(k for k in volume_types if isinstance(k, str))


def price_round(
    resources: Sequence[RequestedResource],
    catalog: Catalog,
    rules: PricingRules,
    *,
    usage_cycle_months: int,
    coupon: CouponDiscount | Rejection | None = None,
) -> Order | Rejection:
    """Price ``resources``; ``coupon`` is the coupon's discount, or why the customer cannot use it
    (a reason given only once the cycle and every price are known to be fine)."""
    cycle_percent = rules.cycle_discounts.get(usage_cycle_months)
    if cycle_percent is None:
        offered = ", ".join(str(c) for c in sorted(rules.cycle_discounts))
        return Rejection(
            INVALID_USAGE_CYCLE, f"a usage cycle of {usage_cycle_months} months is not offered (offered: {offered})"
        )
    monthly = [monthly_price(resource, catalog) for resource in resources]
    unpriced = [describe(r) for r, price in zip(resources, monthly, strict=True) if price is None]
    if unpriced:
        return Rejection(UNPRICED_RESOURCE, f"the price list has no price for {', '.join(unpriced)}")
    if isinstance(coupon, Rejection):
        return coupon
    amounts = [price * usage_cycle_months for price in monthly if price is not None]
    return build_order(resources, amounts, cycle_percent, coupon, rules.vat_percent)


def monthly_price(resource: RequestedResource, catalog: Catalog) -> int | None:
    """What the resource costs a month, or None when the catalog cannot price it."""
    spec_model = SPEC_BY_KIND.get(resource.kind)
    if spec_model is None:
        return None  # load balancers and snapshots are never priced
    try:
        spec = spec_model.model_validate(resource.spec)
    except ValidationError:
        return None
    if isinstance(spec, ServerSpec):
        return catalog.server_monthly.get(spec.flavor)
    per_gib = catalog.volume_gib_monthly.get(spec.volume_type)
    return None if per_gib is None else per_gib * spec.size_gib


def describe(resource: RequestedResource) -> str:
    if resource.kind == ResourceKind.SERVER:
        return f"{resource.resource_id} (server flavor {resource.spec.get('flavor')!r})"
    if resource.kind == ResourceKind.VOLUME:
        return f"{resource.resource_id} (volume type {resource.spec.get('volume_type')!r})"
    return f"{resource.resource_id} ({resource.kind.value}, which is never priced)"


def build_order(
    resources: Sequence[RequestedResource],
    amounts: Sequence[int],
    cycle_percent: int,
    coupon: CouponDiscount | None,
    vat_percent: int,
) -> Order:
    """Take the cycle's discount off each line, then the coupon's off what is left: largest
    remainder over the lines' remaining values, so the parts add up to the coupon exactly and
    none exceeds its line."""
    cycle_discounts = [divide_half_up(amount * cycle_percent, 100) for amount in amounts]
    remaining = [amount - discount for amount, discount in zip(amounts, cycle_discounts, strict=True)]
    coupon_total = coupon.amount_off(sum(remaining)) if coupon else 0
    coupon_discounts = allocate(coupon_total, remaining)
    lines = []
    for resource, amount, cycle_discount, left, coupon_discount in zip(
        resources, amounts, cycle_discounts, remaining, coupon_discounts, strict=True
    ):
        total = left - coupon_discount
        lines.append(
            Line(
                resource_id=resource.resource_id,
                kind=resource.kind.value,
                amount=amount,
                discount=cycle_discount + coupon_discount,
                tax=vat_included(total, vat_percent),
                total=total,
                cycle_discount=cycle_discount,
                coupon_discount=coupon_discount,
                vat_percent=vat_percent,
            )
        )
    return Order(tuple(lines), coupon)


def check_expected_total(order: Order, expected_total: int | None) -> Rejection | None:
    """The order must charge exactly what the portal showed the customer, if it says."""
    if expected_total is None or order.total == expected_total:
        return None
    return Rejection(
        PRICE_CHANGED,
        f"the order's total is {order.total} VND but the customer was shown {expected_total} VND;"
        " quote again and confirm the new total",
    )
