"""Inventory: the platform's clusters and resources, the Stop POC conversion (conversions.py) and
the renewals of real resources (renewals.py); this module is where each message comes in.

Every handler that touches a cluster's resources locks the cluster row first, so the messages
of one cluster are applied one at a time whatever order they arrive in.
"""

from stoppoc.contract.base import OrderKind, Rejection
from stoppoc.contract.commands import (
    ClusterUpsert,
    RenewalRequest,
    ResourceDelete,
    ResourceUpsert,
    StopPocQuote,
    StopPocRequest,
)
from stoppoc.contract.events import (
    ClusterRegistered,
    OrderRejected,
    PaymentFailed,
    PaymentSettled,
    RequestedResource,
    ResourceDeleted,
    ResourceRegistered,
    WalletCredited,
)
from stoppoc.contract.replies import QuotePrice, QuoteRejected
from stoppoc.services.inventory import conversions, renewals
from stoppoc.shared.handlers import Forward, HandlerRegistry, Reply
from stoppoc.shared.unit_of_work import UnitOfWork

registry = HandlerRegistry()


@registry.on("inventory.cluster.upsert")
async def upsert_cluster(cmd: ClusterUpsert, uow: UnitOfWork) -> None:
    await uow.q.upsert_cluster(**cmd.model_dump(include={"cluster_id", "customer_id", "name", "poc", "poc_expires_at"}))
    await uow.emit(ClusterRegistered(cluster_id=cmd.cluster_id, customer_id=cmd.customer_id, poc=cmd.poc))


@registry.on("inventory.resource.upsert")
async def upsert_resource(cmd: ResourceUpsert, uow: UnitOfWork) -> None:
    # Taken in turn with the conversion's steps: a node registered while a round is being
    # settled is either seen by that step (and converted in the next round) or comes after it.
    await uow.q.lock_cluster(cluster_id=cmd.cluster_id)
    await uow.q.upsert_resource(
        resource_id=cmd.resource_id,
        cluster_id=cmd.cluster_id,
        kind=cmd.kind.value,
        billing=cmd.billing.value,
        spec=cmd.spec,
        paid_until=cmd.paid_until,
        usage_cycle_months=cmd.usage_cycle_months,
        auto_renew=cmd.auto_renew,
    )
    await uow.emit(
        ResourceRegistered(resource_id=cmd.resource_id, cluster_id=cmd.cluster_id, kind=cmd.kind, billing=cmd.billing)
    )


@registry.on("inventory.resource.delete")
async def delete_resource(cmd: ResourceDelete, uow: UnitOfWork) -> None:
    deleted = await uow.q.delete_resource(resource_id=cmd.resource_id)
    if deleted is None:
        return  # unknown or deleted already: nothing changes
    await uow.emit(ResourceDeleted(resource_id=deleted.resource_id, cluster_id=deleted.cluster_id))


@registry.on("inventory.stop_poc.request")
async def request_stop_poc(cmd: StopPocRequest, uow: UnitOfWork) -> None:
    await conversions.request(cmd, uow)


@registry.query("inventory.stop_poc.quote")
async def quote_stop_poc(quote: StopPocQuote, uow: UnitOfWork) -> Reply | Forward:
    """The screen of steps 3 and 4: what the request would convert (the confirmed resources, or
    every POC server and volume), forwarded to checkout for their prices (and from there to
    payment for the wallet); nothing changes."""
    cluster = await uow.q.cluster(cluster_id=quote.cluster_id)
    selected = await conversions.select(uow, cluster, quote.customer_id, quote.cluster_id, quote.resource_ids)
    if isinstance(selected, Rejection):
        return Reply(QuoteRejected(cluster_id=quote.cluster_id, reason=selected.reason, detail=selected.detail))
    return Forward(
        QuotePrice(
            **quote.model_dump(),
            resources=[RequestedResource(resource_id=r.resource_id, kind=r.kind, spec=r.spec) for r in selected],
        )
    )


@registry.on("inventory.renewal.request")
async def request_renewal(cmd: RenewalRequest, uow: UnitOfWork) -> None:
    await renewals.request_by_hand(cmd, uow)


@registry.on("payment.settled")
async def apply_payment(paid: PaymentSettled, uow: UnitOfWork) -> None:
    if paid.kind is OrderKind.RENEWAL:
        await renewals.renew_paid(paid, uow)
    else:
        await conversions.convert_paid_round(paid, uow)


@registry.on("payment.failed")
async def fail_unpaid(failed: PaymentFailed, uow: UnitOfWork) -> None:
    detail = f"payment of {failed.amount} VND failed: balance {failed.balance} VND, shortfall {failed.shortfall} VND"
    if failed.wallet_reserved:
        detail += f" ({failed.wallet_reserved} VND of the balance is reserved for older orders waiting for funds)"
    if failed.kind is OrderKind.RENEWAL:
        await renewals.fail(
            uow,
            failed.renewal_id or failed.request_id,
            failed.cluster_id,
            failed.reason,
            detail,
            amount=failed.amount,
            balance=failed.balance,
            shortfall=failed.shortfall,
        )
    else:
        await conversions.fail_round(uow, failed.request_id, failed.round, failed.cluster_id, failed.reason, detail)


@registry.on("order.rejected")
async def fail_unpriced(rejected: OrderRejected, uow: UnitOfWork) -> None:
    if rejected.kind is OrderKind.RENEWAL:
        renewal_id = rejected.renewal_id or rejected.request_id
        await renewals.fail(uow, renewal_id, rejected.cluster_id, rejected.reason, rejected.detail)
    else:
        await conversions.fail_round(
            uow, rejected.request_id, rejected.round, rejected.cluster_id, rejected.reason, rejected.detail
        )


@registry.on("wallet.credited")
async def retry_renewals(credited: WalletCredited, uow: UnitOfWork) -> None:
    await renewals.retry_on_credit(credited.customer_id, uow)
