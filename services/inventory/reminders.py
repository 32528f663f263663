"""Reminders before a cluster's POC wallet expires (a periodic task of inventory)."""

from stoppoc.contract.envelope import utc_now
from stoppoc.contract.events import ClusterPocExpiring
from stoppoc.services.inventory import domain
from stoppoc.services.inventory.queries import ExpiringCluster
from stoppoc.shared.periodic import PeriodicTask
from stoppoc.shared.unit_of_work import UnitOfWork


async def remind_expiring_pocs(uow: UnitOfWork) -> None:
    offsets = uow.settings.reminder_days
    if not offsets:
        return
    now = utc_now()
    expiring: list[ExpiringCluster] = await uow.q.clusters_expiring_within(days=max(offsets))
    for cluster in expiring:
        days = domain.due_reminder(cluster.poc_expires_at, now, offsets, cluster.reminded)
        if days is None:
            continue
        await uow.q.record_reminder(
            cluster_id=cluster.cluster_id, poc_expires_at=cluster.poc_expires_at, days_before=days
        )
        await uow.emit(
            ClusterPocExpiring(
                cluster_id=cluster.cluster_id,
                customer_id=cluster.customer_id,
                name=cluster.name,
                poc_expires_at=cluster.poc_expires_at,
                days_before=days,
            )
        )


REMINDERS = PeriodicTask("poc-expiry-reminders", remind_expiring_pocs)
