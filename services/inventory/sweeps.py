"""Inventory's clock-driven work on real resources (periodic tasks, every STOPPOC_SWEEP_SECONDS):
automatic renewals at paid_until, the stages after it, and reminders before it.

The renewal and stage sweeps claim clusters with ``FOR UPDATE SKIP LOCKED`` (instances share
the work, and a cluster a handler holds is left to the next run), then read the cluster's
resources again under that lock. Reminders are recorded with ``ON CONFLICT DO NOTHING``, so
each is sent once whichever instance gets there first.
"""

from stoppoc.contract.events import ResourceDeletionDue, ResourceExpired, ResourceExpiring, ResourceSuspended
from stoppoc.services.inventory import billing, domain, renewals
from stoppoc.services.inventory.queries import BilledResource, ClaimedCluster, ExpiringResource
from stoppoc.shared.periodic import PeriodicTask
from stoppoc.shared.unit_of_work import UnitOfWork

# Clusters one run handles, so that a run stays short.
BATCH = 100
SECONDS_PER_DAY = 86_400
STAGE_EVENTS = {
    billing.Stage.EXPIRED: ResourceExpired,
    billing.Stage.SUSPENDED: ResourceSuspended,
    billing.Stage.DELETION_DUE: ResourceDeletionDue,
}


async def renew_due(uow: UnitOfWork) -> None:
    retry_seconds = uow.settings.renewal_retry_days * SECONDS_PER_DAY
    clusters: list[ClaimedCluster] = await uow.q.claim_clusters_due_for_renewal(
        retry_seconds=retry_seconds, batch_size=BATCH
    )
    for cluster in clusters:
        due: list[BilledResource] = await uow.q.due_for_renewal(
            cluster_id=cluster.cluster_id, retry_seconds=retry_seconds
        )
        await renewals.renew_automatically(uow, cluster, due)


async def advance_stages(uow: UnitOfWork) -> None:
    grace = billing.Grace.of_days(uow.settings.suspend_after_days, uow.settings.delete_after_days)
    windows = {
        "suspend_seconds": grace.suspend_after.total_seconds(),
        "delete_seconds": grace.delete_after.total_seconds(),
    }
    clusters: list[ClaimedCluster] = await uow.q.claim_clusters_with_stages_due(**windows, batch_size=BATCH)
    now = await uow.q.db_now()
    for cluster in clusters:
        resources: list[BilledResource] = await uow.q.stages_due(cluster_id=cluster.cluster_id, **windows)
        for resource in resources:
            assert resource.paid_until is not None  # the query takes only resources past it
            stages = billing.stages_due(billing.Stage(resource.lifecycle_stage), resource.paid_until, now, grace)
            if not stages:
                continue
            await uow.q.advance_stage(resource_id=resource.resource_id, stage=stages[-1].value)
            for stage in stages:
                await uow.emit(
                    STAGE_EVENTS[stage](
                        resource_id=resource.resource_id,
                        cluster_id=cluster.cluster_id,
                        customer_id=cluster.customer_id,
                        paid_until=resource.paid_until,
                    )
                )


async def remind_renewals(uow: UnitOfWork) -> None:
    offsets = uow.settings.renewal_reminder_days
    if not offsets:
        return
    now = await uow.q.db_now()
    expiring: list[ExpiringResource] = await uow.q.resources_expiring_within(days=max(offsets))
    for resource in expiring:
        days = domain.due_reminder(resource.paid_until, now, offsets, resource.reminded)
        if days is None:
            continue
        if not await uow.q.record_renewal_reminder(
            resource_id=resource.resource_id, paid_until=resource.paid_until, days_before=days
        ):
            continue  # another instance sent it
        await uow.emit(
            ResourceExpiring(
                resource_id=resource.resource_id,
                cluster_id=resource.cluster_id,
                customer_id=resource.customer_id,
                paid_until=resource.paid_until,
                auto_renew=resource.auto_renew,
                days_left=days,
            )
        )


SWEEPS = (
    PeriodicTask("renew-due-resources", renew_due),
    PeriodicTask("resource-stages", advance_stages),
    PeriodicTask("renewal-reminders", remind_renewals),
)
