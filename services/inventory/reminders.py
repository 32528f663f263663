"""Reminders before a cluster's POC wallet expires (a periodic task of inventory)."""

from shared.contract.events import ClusterPocExpiring
from shared.envelope import utc_now
from shared.periodic import PeriodicTask
from shared.unit_of_work import UnitOfWork

from services.inventory import domain


async def remind_expiring_pocs(uow: UnitOfWork) -> None:
    offsets = uow.settings.reminder_days
    if not offsets:
        return
    now = utc_now()
    for cluster in await uow.fetch("clusters_expiring_within", max(offsets)):
        days = domain.due_reminder(cluster["poc_expires_at"], now, offsets, cluster["reminded"])
        if days is None:
            continue
        await uow.execute("record_reminder", cluster["cluster_id"], cluster["poc_expires_at"], days)
        await uow.emit(
            ClusterPocExpiring(
                cluster_id=cluster["cluster_id"],
                customer_id=cluster["customer_id"],
                name=cluster["name"],
                poc_expires_at=cluster["poc_expires_at"],
                days_before=days,
            )
        )


REMINDERS = PeriodicTask("poc-expiry-reminders", remind_expiring_pocs)
