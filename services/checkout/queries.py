"""Checkout's queries (``queries.sql``) and the rows they return."""

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stoppoc.services.checkout.coupons import Coupon, HeldRedemption, Usage
from stoppoc.services.checkout.price_list import ServerPrice, VolumePrice
from stoppoc.shared import queries


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    request_id: str
    customer_id: str
    cluster_id: str
    round: int
    usage_cycle_months: int
    auto_renew: bool
    coupon_code: str | None
    subtotal: int
    discount: int
    tax: int
    total: int
    currency: str
    created_at: datetime
    lines: list[dict[str, Any]]
    kind: str
    renewal_id: str | None


@dataclass(frozen=True)
class CouponSummary:
    code: str
    kind: str
    value: int
    valid_from: datetime | None
    valid_until: datetime | None
    max_redemptions: int | None
    per_customer_limit: int | None
    reserved: int
    redeemed: int
    released: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Redemption:
    order_id: str
    request_id: str
    customer_id: str
    discount: int
    status: str
    reserved_at: datetime
    settled_at: datetime | None


# Operators' and analysts' views.


@dataclass(frozen=True)
class RejectionRow:
    request_id: str
    round: int
    reason: str
    detail: str
    created_at: datetime


@dataclass(frozen=True)
class OrderTotal:
    order_id: str
    customer_id: str
    total: int
    created_at: datetime


__all__ = ["Coupon", "HeldRedemption", "ServerPrice", "Usage", "VolumePrice"]
QUERIES = queries.load(__package__, rows=sys.modules[__name__])
