"""A real resource's paid period: renewals and what happens once paid_until passes. Pure, no I/O.

After paid_until a resource that is not renewed goes through the stages in order, each once:
expired (the grace period), suspended (``suspend_after`` later; its data kept), deletion due
(``delete_after`` later). A resource that is found late (registered far past its paid_until)
goes through every stage it has passed at once, still in that order.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar

from stoppoc.contract.base import CONVERTIBLE_KINDS, Billing, Rejection, RenewalReason
from stoppoc.services.inventory.domain import add_months

AUTO_RENEW = RenewalReason.AUTO_RENEW.value
MANUAL = RenewalReason.MANUAL.value


class Stage(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    DELETION_DUE = "deletion_due"


R = TypeVar("R", bound="Renewable")
_ORDER = (Stage.ACTIVE, Stage.EXPIRED, Stage.SUSPENDED, Stage.DELETION_DUE)


@dataclass(frozen=True)
class Grace:
    """How long after paid_until a resource is suspended, and due for deletion."""

    suspend_after: timedelta
    delete_after: timedelta

    @classmethod
    def of_days(cls, suspend_after_days: float, delete_after_days: float) -> "Grace":
        """A resource is suspended before it is due for deletion (the settings refuse otherwise)."""
        if suspend_after_days > delete_after_days:
            raise ValueError(f"suspended after {suspend_after_days} days, later than deleted after {delete_after_days}")
        return cls(timedelta(days=suspend_after_days), timedelta(days=delete_after_days))


def stages_due(current: Stage, paid_until: datetime, now: datetime, grace: Grace) -> list[Stage]:
    """The stages to announce now, in order: those past ``current`` whose time has come."""
    reached = Stage.ACTIVE
    if paid_until <= now:
        reached = Stage.EXPIRED
    if paid_until + grace.suspend_after <= now:
        reached = Stage.SUSPENDED
    if paid_until + grace.delete_after <= now:
        reached = Stage.DELETION_DUE
    return list(_ORDER[_ORDER.index(current) + 1 : _ORDER.index(reached) + 1])


def is_suspended(stage: Stage) -> bool:
    """Suspended, or past it (a resource due for deletion is suspended too, its data kept)."""
    return _ORDER.index(stage) >= _ORDER.index(Stage.SUSPENDED)


def renewed_until(paid_until: datetime | None, now: datetime, months: int, reason: str) -> datetime:
    """The new paid_until: an automatic renewal extends the period that ended (old paid_until +
    the cycle); one by hand starts from today if the period is over (max(old, now) + the cycle)."""
    if paid_until is None:
        return add_months(now, months)
    if reason == MANUAL:
        return add_months(max(paid_until, now), months)
    return add_months(paid_until, months)


class Renewable(Protocol):
    """A resource as a renewal by hand sees it."""

    @property
    def resource_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def billing(self) -> str: ...
    @property
    def renewing_id(self) -> str | None: ...


def renewable(resource: Renewable) -> bool:
    return resource.kind in CONVERTIBLE_KINDS and resource.billing == Billing.REAL


# Checked in this order; the first kind of problem found names the rejection.
_PROBLEMS = ("resource_not_found", "resource_not_renewable", "renewal_in_progress")


def select_renewable(cluster_id: str, in_cluster: Sequence[R], asked: list[str] | None) -> list[R] | Rejection:
    """What a renewal by hand renews: the resources asked for, each a real server or volume of
    the cluster (``in_cluster``: its resources not deleted) that no other renewal holds; by
    default every real server and volume of the cluster."""
    found = {r.resource_id: r for r in in_cluster}
    if not asked:
        asked = [r.resource_id for r in in_cluster if renewable(r)]
        if not asked:
            return Rejection("nothing_to_renew", f"cluster {cluster_id} has no real server or volume")
    problems: dict[str, list[str]] = {name: [] for name in _PROBLEMS}
    for resource_id in dict.fromkeys(asked):
        resource = found.get(resource_id)
        if resource is None:
            problems["resource_not_found"].append(resource_id)
        elif not renewable(resource):
            problems["resource_not_renewable"].append(f"{resource_id} ({resource.billing} {resource.kind})")
        elif resource.renewing_id is not None:
            problems["renewal_in_progress"].append(f"{resource_id} (renewal {resource.renewing_id})")
    named = [(name, ids) for name, ids in problems.items() if ids]
    if named:
        return Rejection(named[0][0], "; ".join(f"{name}: {', '.join(ids)}" for name, ids in named))
    return [found[resource_id] for resource_id in dict.fromkeys(asked)]


def check_cycle(months: int, offered: Iterable[int]) -> Rejection | None:
    offered = sorted(offered)
    if months in offered:
        return None
    listed = ", ".join(str(m) for m in offered)
    return Rejection("invalid_usage_cycle", f"a usage cycle of {months} months is not offered (offered: {listed})")
