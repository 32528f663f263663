"""Inventory's queries (``queries.sql``) and the rows they return."""

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stoppoc.services.inventory.domain import Cluster, Conversion, Resource
from stoppoc.shared import queries


@dataclass(frozen=True, kw_only=True)
class ConversionRow(Conversion):
    status: str
    rounds: int


@dataclass(frozen=True)
class RoundRow:
    request_id: str
    round: int
    resource_ids: list[str]
    status: str


@dataclass(frozen=True, kw_only=True)
class OpenRound(ConversionRow):
    """A payment outcome's conversion and its round, read (and locked) together."""

    round: int
    round_resource_ids: list[str]
    round_status: str

    @property
    def round_row(self) -> RoundRow:
        return RoundRow(self.request_id, self.round, self.round_resource_ids, self.round_status)


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
    state: str  # poc, or the stage of its paid period
    renewing: str | None


@dataclass(frozen=True)
class ClaimedCluster:
    cluster_id: str
    customer_id: str


@dataclass(frozen=True)
class BilledResource:
    """A real resource and its paid period."""

    resource_id: str
    cluster_id: str
    kind: str
    billing: str
    spec: dict[str, Any]
    usage_cycle_months: int | None
    auto_renew: bool | None
    paid_until: datetime | None
    lifecycle_stage: str
    renewing_id: str | None


@dataclass(frozen=True)
class RenewalRow:
    renewal_id: str
    customer_id: str
    cluster_id: str
    usage_cycle_months: int
    reason: str
    resource_ids: list[str]
    status: str
    failure_reason: str | None
    detail: str | None


@dataclass(frozen=True)
class ExpiringResource:
    resource_id: str
    cluster_id: str
    customer_id: str
    paid_until: datetime
    auto_renew: bool
    reminded: list[float]


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
