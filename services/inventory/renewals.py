"""Renewals of real servers and volumes: requested automatically at paid_until (and tried again
on a credit and once a day while expired or suspended), or by the customer by hand; paid through
checkout and payment like a round, from credit only and at once.

Each step locks the cluster row first, like a conversion's, and a renewal holds its resources
(``renewing_id``) until it is decided, so no resource is in two renewals at once.
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from stoppoc.contract.base import Rejection
from stoppoc.contract.commands import RenewalRequest
from stoppoc.contract.errors import InvariantViolation
from stoppoc.contract.events import (
    PaymentSettled,
    RenewalFailed,
    RenewalRejected,
    RenewalRequested,
    RenewedResource,
    RequestedResource,
    ResourceResumed,
    ResourcesRenewed,
)
from stoppoc.services.inventory import billing, domain
from stoppoc.services.inventory.queries import BilledResource, ClaimedCluster, RenewalRow
from stoppoc.services.inventory.refunds import refund
from stoppoc.shared.unit_of_work import UnitOfWork

# The cycle an automatic renewal uses for a resource registered without one.
DEFAULT_CYCLE_MONTHS = 1


def by_cycle(resources: Sequence[BilledResource]) -> dict[int, list[BilledResource]]:
    """The due resources of one cluster at one moment, one renewal per usage cycle."""
    groups: dict[int, list[BilledResource]] = defaultdict(list)
    for resource in resources:
        groups[resource.usage_cycle_months or DEFAULT_CYCLE_MONTHS].append(resource)
    return dict(sorted(groups.items()))


async def renew_automatically(uow: UnitOfWork, cluster: ClaimedCluster, due: Sequence[BilledResource]) -> None:
    """Request the renewal of a locked cluster's due resources, one per usage cycle."""
    for months, resources in by_cycle(due).items():
        ids = [r.resource_id for r in resources]
        await uow.q.mark_renewal_attempted(resource_ids=ids)
        await start(uow, str(uuid.uuid4()), cluster, months, resources, billing.AUTO_RENEW)


async def start(
    uow: UnitOfWork,
    renewal_id: str,
    cluster: ClaimedCluster,
    months: int,
    resources: Sequence[BilledResource],
    reason: str,
) -> None:
    ids = [r.resource_id for r in resources]
    held = await uow.q.hold_for_renewal(resource_ids=ids, renewal_id=renewal_id)
    if len(held) != len(ids):
        raise InvariantViolation(f"renewal {renewal_id} could not hold all of {ids}")
    await uow.q.insert_renewal(
        renewal_id=renewal_id,
        customer_id=cluster.customer_id,
        cluster_id=cluster.cluster_id,
        usage_cycle_months=months,
        reason=reason,
        resource_ids=ids,
    )
    await uow.emit(
        RenewalRequested(
            renewal_id=renewal_id,
            customer_id=cluster.customer_id,
            cluster_id=cluster.cluster_id,
            usage_cycle_months=months,
            resources=[RequestedResource(resource_id=r.resource_id, kind=r.kind, spec=r.spec) for r in resources],
            reason=reason,
        )
    )


async def request_by_hand(cmd: RenewalRequest, uow: UnitOfWork) -> None:
    """``inventory.renewal.request``: the renewal_id is the request_id, so a repeat is the same."""
    cluster = await uow.q.lock_cluster(cluster_id=cmd.cluster_id)
    if await uow.q.renewal(renewal_id=cmd.request_id):
        return
    chosen = await _choose(uow, cmd, cluster)
    if isinstance(chosen, Rejection):
        await uow.q.record_rejected_renewal(
            renewal_id=cmd.request_id,
            customer_id=cmd.customer_id,
            cluster_id=cmd.cluster_id,
            usage_cycle_months=cmd.usage_cycle_months,
            failure_reason=chosen.reason,
            detail=chosen.detail,
        )
        await uow.emit(
            RenewalRejected(
                renewal_id=cmd.request_id,
                customer_id=cmd.customer_id,
                cluster_id=cmd.cluster_id,
                reason=chosen.reason,
                detail=chosen.detail,
            )
        )
        return
    owner = ClaimedCluster(cluster_id=cmd.cluster_id, customer_id=cmd.customer_id)
    await start(uow, cmd.request_id, owner, cmd.usage_cycle_months, chosen, billing.MANUAL)


async def _choose(
    uow: UnitOfWork, cmd: RenewalRequest, cluster: domain.Cluster | None
) -> list[BilledResource] | Rejection:
    if cluster is None:
        return Rejection("cluster_not_found", "no such cluster is registered")
    if cluster.customer_id != cmd.customer_id:
        return Rejection("cluster_not_owned", f"cluster {cmd.cluster_id} belongs to another customer")
    if rejection := billing.check_cycle(cmd.usage_cycle_months, uow.settings.usage_cycles):
        return rejection
    in_cluster: list[BilledResource] = await uow.q.cluster_billed(cluster_id=cmd.cluster_id)
    return billing.select_renewable(cmd.cluster_id, in_cluster, cmd.resource_ids)


async def retry_on_credit(customer_id: str, uow: UnitOfWork) -> None:
    """A credit tries again every failed automatic renewal of the customer's expired or
    suspended resources."""
    clusters: list[ClaimedCluster] = await uow.q.lock_clusters_with_failed_renewals(customer_id=customer_id)
    for cluster in clusters:
        failed: list[BilledResource] = await uow.q.failed_renewals(cluster_id=cluster.cluster_id)
        if failed:
            await renew_automatically(uow, cluster, failed)


async def _open(uow: UnitOfWork, renewal_id: str, cluster_id: str) -> RenewalRow:
    await uow.q.lock_cluster(cluster_id=cluster_id)
    renewal: RenewalRow | None = await uow.q.lock_renewal(renewal_id=renewal_id)
    if renewal is None:
        raise InvariantViolation(f"no renewal {renewal_id} is known")
    return renewal


async def renew_paid(paid: PaymentSettled, uow: UnitOfWork) -> None:
    renewal_id = paid.renewal_id or paid.request_id
    renewal = await _open(uow, renewal_id, paid.cluster_id)
    if renewal.status == "renewed":
        return  # applied already
    if renewal.status != "requested":
        await refund(uow, paid, {line.resource_id for line in paid.lines})
        return
    held: list[BilledResource] = await uow.q.held_by_renewal(renewal_id=renewal_id)
    renewed = [await _renew(uow, renewal, resource, paid.settled_at) for resource in held]
    # A resource deleted, or no longer real, while the renewal was in flight: its line back.
    gone = set(renewal.resource_ids) - {r.resource_id for r in renewed}
    if gone:
        await refund(uow, paid, gone)
    if not renewed:
        detail = f"every resource of the renewal was deleted or is no longer real; {paid.amount} VND refunded"
        await fail(uow, renewal_id, paid.cluster_id, "resources_gone", detail)
        return
    await uow.q.release_renewal(renewal_id=renewal_id)
    await uow.q.finish_renewal(
        renewal_id=renewal_id,
        status="renewed",
        failure_reason=None,
        detail=None,
        payment_id=paid.payment_id,
        amount=paid.amount,
    )
    await uow.emit(
        ResourcesRenewed(
            renewal_id=renewal_id,
            customer_id=renewal.customer_id,
            cluster_id=renewal.cluster_id,
            resource_ids=[r.resource_id for r in renewed],
            usage_cycle_months=renewal.usage_cycle_months,
            paid_until=min(r.paid_until for r in renewed),
            resources=renewed,
            amount=paid.amount,
        )
    )
    for resource, after in zip(held, renewed, strict=True):
        if billing.is_suspended(billing.Stage(resource.lifecycle_stage)) and after.paid_until > paid.settled_at:
            await uow.emit(
                ResourceResumed(
                    resource_id=resource.resource_id,
                    cluster_id=renewal.cluster_id,
                    customer_id=renewal.customer_id,
                    paid_until=after.paid_until,
                )
            )


async def _renew(uow: UnitOfWork, renewal: RenewalRow, resource: BilledResource, now: datetime) -> RenewedResource:
    until = billing.renewed_until(resource.paid_until, now, renewal.usage_cycle_months, renewal.reason)
    await uow.q.renew_resource(
        resource_id=resource.resource_id,
        renewal_id=renewal.renewal_id,
        paid_until=until,
        usage_cycle_months=renewal.usage_cycle_months,
        active=until > now,
    )
    return RenewedResource(resource_id=resource.resource_id, previous_paid_until=resource.paid_until, paid_until=until)


async def fail(
    uow: UnitOfWork, renewal_id: str, cluster_id: str, reason: str, detail: str, **figures: int | None
) -> None:
    """Unpaid or unpriced: the resources keep their paid_until; the sweep takes them through
    their stages, and a credit or the daily retry tries an automatic renewal again."""
    renewal = await _open(uow, renewal_id, cluster_id)
    if renewal.status != "requested":
        return  # decided already
    held: list[BilledResource] = await uow.q.held_by_renewal(renewal_id=renewal_id)
    await uow.q.release_renewal(renewal_id=renewal_id)
    await uow.q.finish_renewal(
        renewal_id=renewal_id, status="failed", failure_reason=reason, detail=detail, payment_id=None, amount=None
    )
    paid_until = [r.paid_until for r in held if r.paid_until is not None]
    await uow.emit(
        RenewalFailed(
            renewal_id=renewal_id,
            customer_id=renewal.customer_id,
            cluster_id=renewal.cluster_id,
            resource_ids=renewal.resource_ids,
            reason=reason,
            detail=detail,
            usage_cycle_months=renewal.usage_cycle_months,
            paid_until=min(paid_until) if paid_until else None,
            **figures,
        )
    )
