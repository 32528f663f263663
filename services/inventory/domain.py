"""Inventory's decisions: pure functions over clusters and resources, no I/O."""

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from stoppoc.contract.base import CONVERTIBLE_KINDS, Billing, Rejection, ResourceKind


@dataclass(frozen=True)
class Cluster:
    cluster_id: str
    customer_id: str
    poc: bool
    name: str = ""
    poc_expires_at: datetime | None = None
    poc_stopped_at: datetime | None = None


@dataclass(frozen=True)
class Resource:
    resource_id: str
    cluster_id: str
    kind: ResourceKind
    billing: Billing
    spec: dict[str, Any]
    held_by: str | None = None  # the request id of the conversion holding it
    deleted: bool = False

    def __post_init__(self) -> None:
        # Rows from the database carry the enums' values.
        object.__setattr__(self, "kind", ResourceKind(self.kind))
        object.__setattr__(self, "billing", Billing(self.billing))

    @property
    def convertible(self) -> bool:
        """A POC server or volume that no conversion holds: what Stop POC picks."""
        return (
            self.kind in CONVERTIBLE_KINDS and self.billing is Billing.POC and self.held_by is None and not self.deleted
        )


@dataclass(frozen=True)
class Conversion:
    """What a stop request asked for; every round of it is priced with these terms."""

    request_id: str
    customer_id: str
    cluster_id: str
    usage_cycle_months: int
    auto_renew: bool
    coupon_code: str | None
    resource_ids: list[str] | None = None  # what the customer confirmed; None: the whole cluster
    expected_total: int | None = None  # the total the portal showed; round 1 must match it


class Ending(StrEnum):
    """What a paid round leads to."""

    NEXT_ROUND = "next_round"  # POC servers or volumes joined the cluster meanwhile
    COMPLETED = "completed"  # what was confirmed is converted; other POC ones remain
    STOPPED = "stopped"  # nothing POC remains: the cluster's POC option goes off


def after_paid_round(whole_cluster: bool, poc_left: Sequence[Resource]) -> Ending:
    """A request for the whole cluster goes on while POC servers or volumes remain; one for a
    confirmed list never takes a resource outside it, so it ends, leaving the POC option on."""
    if not poc_left:
        return Ending.STOPPED
    return Ending.NEXT_ROUND if whole_cluster else Ending.COMPLETED


def check_request(
    cluster: Cluster | None, customer_id: str, busy_with: str | None, poc_left: bool = False
) -> Rejection | None:
    """Can this customer stop POC on this cluster now? A cluster whose POC option is off still
    takes a stop while POC servers or volumes remain in it (one registered as POC after the
    option went off), so that no resource is stranded on trial."""
    if cluster is None:
        return Rejection("cluster_not_found", "no such cluster is registered")
    if cluster.customer_id != customer_id:
        return Rejection("cluster_not_owned", f"cluster {cluster.cluster_id} belongs to another customer")
    if not cluster.poc and not poc_left:
        return Rejection("cluster_not_poc", f"cluster {cluster.cluster_id} has its POC option off already")
    if busy_with is not None:
        return Rejection("conversion_in_progress", f"conversion {busy_with} of this cluster is in progress")
    return None


# Checked in this order; the first kind of problem found names the rejection.
_PROBLEMS = ("resource_not_found", "resource_not_convertible", "resource_not_poc", "resource_busy")


def select_resources(
    cluster_id: str,
    in_cluster: Iterable[Resource],
    confirmed: Sequence[Resource] | None,
    confirmed_ids: Sequence[str] | None,
) -> list[Resource] | Rejection:
    """The resources a stop request converts: the ones the user confirmed, each of which
    must be a POC server or volume of the cluster; by default every such resource."""
    if not confirmed_ids:
        return [r for r in in_cluster if r.convertible]
    found = {r.resource_id: r for r in confirmed or ()}
    problems: dict[str, list[str]] = {name: [] for name in _PROBLEMS}
    for resource_id in dict.fromkeys(confirmed_ids):
        resource = found.get(resource_id)
        if resource is None or resource.deleted or resource.cluster_id != cluster_id:
            problems["resource_not_found"].append(resource_id)
        elif resource.kind not in CONVERTIBLE_KINDS:
            problems["resource_not_convertible"].append(f"{resource_id} ({resource.kind})")
        elif resource.billing is not Billing.POC:
            problems["resource_not_poc"].append(resource_id)
        elif resource.held_by is not None:
            problems["resource_busy"].append(resource_id)
    named = [(name, ids) for name, ids in problems.items() if ids]
    if named:
        return Rejection(named[0][0], "; ".join(f"{name}: {', '.join(ids)}" for name, ids in named))
    return [found[rid] for rid in dict.fromkeys(confirmed_ids)]


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later, or the month's last day where that day does not exist."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def due_reminder(
    expires_at: datetime, now: datetime, offsets_days: Iterable[float], reminded: Iterable[float]
) -> float | None:
    """The reminder to send now, as days before expiry, or None.

    Each offset is reminded once; when several have passed together (a cluster registered
    close to its expiry), only the closest one is sent and the earlier ones are skipped.
    """
    if expires_at <= now:
        return None
    passed = [d for d in offsets_days if expires_at - timedelta(days=d) <= now]
    if not passed:
        return None
    closest = min(passed)
    if any(sent <= closest for sent in reminded):
        return None
    return closest
