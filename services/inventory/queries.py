"""Inventory's queries (``queries.sql``) and the rows they return."""

import sys
from dataclasses import dataclass
from datetime import datetime

from stoppoc.services.inventory.domain import Cluster, Conversion, Resource
from stoppoc.shared import queries


@dataclass(frozen=True)
class ConversionRow(Conversion):
    status: str
    rounds: int


@dataclass(frozen=True)
class RoundRow:
    request_id: str
    round: int
    resource_ids: list[str]
    status: str


@dataclass(frozen=True)
class DeletedResource:
    resource_id: str
    cluster_id: str


@dataclass(frozen=True)
class ExpiringCluster:
    cluster_id: str
    customer_id: str
    name: str
    poc_expires_at: datetime
    reminded: list[float]


@dataclass(frozen=True)
class ResourceBilling:
    resource_id: str
    kind: str
    billing: str
    converting: str | None
    usage_cycle_months: int | None
    auto_renew: bool | None
    paid_until: datetime | None


# Operators' views (`stoppoc conversions`).


@dataclass(frozen=True)
class ConversionSummary:
    request_id: str
    customer_id: str
    cluster_id: str
    status: str
    rounds: int
    usage_cycle_months: int
    auto_renew: bool
    coupon_code: str | None
    reason: str | None
    detail: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class RoundSummary:
    round: int
    resource_ids: list[str]
    status: str
    payment_id: str | None
    amount: int | None
    created_at: datetime
    finished_at: datetime | None


__all__ = ["Cluster", "Resource"]
QUERIES = queries.load(__package__, rows=sys.modules[__name__])
