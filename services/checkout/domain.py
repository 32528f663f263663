"""Pricing a round of a conversion: pure functions, no I/O.

Each resource is priced from the catalog for the usage cycle; a discount step takes its
share off each line (coupons, later); what is left is the line's total. Listed prices
include VAT, so the VAT is the part of each total it already holds, never added on top.
"""

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from shared.contract.base import ResourceKind
from shared.contract.commands import SPEC_BY_KIND, ServerSpec
from shared.contract.events import RequestedResource
from shared.money import vat_included

UNPRICED_RESOURCE = "unpriced_resource"
INVALID_USAGE_CYCLE = "invalid_usage_cycle"
COUPON_NOT_SUPPORTED = "coupon_not_supported"

# Given the line amounts, the discount of each line (same order, none above its amount).
DiscountStep = Callable[[Sequence[int]], Sequence[int]]


def no_discount(amounts: Sequence[int]) -> list[int]:
    return [0] * len(amounts)


@dataclass(frozen=True)
class Catalog:
    server_monthly: Mapping[str, int]  # flavor -> VND per month
    volume_gib_monthly: Mapping[str, int]  # volume type -> VND per GiB per month


@dataclass(frozen=True)
class PricingRules:
    vat_percent: int
    usage_cycles: Collection[int]


@dataclass(frozen=True)
class Line:
    resource_id: str
    kind: str
    amount: int
    discount: int
    tax: int
    total: int


@dataclass(frozen=True)
class Order:
    lines: tuple[Line, ...]

    @property
    def subtotal(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def discount(self) -> int:
        return sum(line.discount for line in self.lines)

    @property
    def tax(self) -> int:
        return sum(line.tax for line in self.lines)

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines)


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str


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
    coupon_code: str | None,
) -> Order | Rejection:
    if usage_cycle_months not in rules.usage_cycles:
        offered = ", ".join(str(c) for c in sorted(rules.usage_cycles))
        return Rejection(
            INVALID_USAGE_CYCLE, f"a usage cycle of {usage_cycle_months} months is not offered (offered: {offered})"
        )
    monthly = [monthly_price(resource, catalog) for resource in resources]
    unpriced = [describe(r) for r, price in zip(resources, monthly, strict=True) if price is None]
    if unpriced:
        return Rejection(UNPRICED_RESOURCE, f"the price list has no price for {', '.join(unpriced)}")
    # Checked after pricing: a coupon's share of each line will depend on the line amounts.
    if coupon_code is not None:
        return Rejection(
            COUPON_NOT_SUPPORTED, f"coupon {coupon_code!r} cannot be applied: coupons are not supported yet"
        )
    amounts = [price * usage_cycle_months for price in monthly]
    return build_order(resources, amounts, no_discount, rules.vat_percent)


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
    resources: Sequence[RequestedResource], amounts: Sequence[int], discount_step: DiscountStep, vat_percent: int
) -> Order:
    discounts = discount_step(amounts)
    lines = []
    for resource, amount, discount in zip(resources, amounts, discounts, strict=True):
        if not 0 <= discount <= amount:
            raise ValueError(f"discount {discount} on a line of {amount}")
        total = amount - discount
        tax = vat_included(total, vat_percent)
        lines.append(Line(resource.resource_id, resource.kind.value, amount, discount, tax, total))
    return Order(tuple(lines))
