"""Inventory: the platform's clusters and resources, and the Stop POC conversion.

Every handler that touches a cluster's conversion locks the cluster row first, so the
messages of one cluster are applied one at a time whatever order they arrive in.
"""

from stoppoc.contract.base import Rejection
from stoppoc.contract.commands import (
    ClusterUpsert,
    ResourceDelete,
    ResourceUpsert,
    StopPocQuote,
    StopPocRequest,
    WalletCredit,
)
from stoppoc.contract.envelope import utc_now
from stoppoc.contract.errors import InvariantViolation
from stoppoc.contract.events import (
    ClusterPocStopped,
    ClusterRegistered,
    OrderRejected,
    PaymentFailed,
    PaymentSettled,
    RequestedResource,
    ResourceDeleted,
    ResourceRegistered,
    ResourcesConverted,
    StopPocFailed,
    StopPocRejected,
    StopPocRequested,
)
from stoppoc.contract.replies import QuotePrice, QuoteRejected
from stoppoc.services.inventory import domain
from stoppoc.services.inventory.queries import ConversionRow, RoundRow
from stoppoc.shared.handlers import Forward, HandlerRegistry, Reply
from stoppoc.shared.unit_of_work import UnitOfWork

registry = HandlerRegistry()

# The terms of a stop request that its conversion keeps.
_TERMS = {"request_id", "customer_id", "cluster_id", "usage_cycle_months", "auto_renew", "coupon_code"}


async def _cluster_resources(uow: UnitOfWork, cluster_id: str) -> list[domain.Resource]:
    resources: list[domain.Resource] = await uow.q.cluster_resources(cluster_id=cluster_id)
    return resources


@registry.on("inventory.cluster.upsert")
async def upsert_cluster(cmd: ClusterUpsert, uow: UnitOfWork) -> None:
    await uow.q.upsert_cluster(**cmd.model_dump(include={"cluster_id", "customer_id", "name", "poc", "poc_expires_at"}))
    await uow.emit(ClusterRegistered(cluster_id=cmd.cluster_id, customer_id=cmd.customer_id, poc=cmd.poc))


@registry.on("inventory.resource.upsert")
async def upsert_resource(cmd: ResourceUpsert, uow: UnitOfWork) -> None:
    await uow.q.upsert_resource(
        resource_id=cmd.resource_id,
        cluster_id=cmd.cluster_id,
        kind=cmd.kind.value,
        billing=cmd.billing.value,
        spec=cmd.spec,
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
    cluster = await uow.q.lock_cluster(cluster_id=cmd.cluster_id)
    if await uow.q.conversion(request_id=cmd.request_id):
        return  # the same request again: it has its answer already
    busy = await uow.q.conversion_in_progress(cluster_id=cmd.cluster_id) if cluster else None
    if rejection := domain.check_request(cluster, cmd.customer_id, busy):
        await _reject(cmd, rejection, uow)
        return

    in_cluster = await _cluster_resources(uow, cmd.cluster_id)
    confirmed = None
    if cmd.resource_ids:
        confirmed = await uow.q.resources_by_id(resource_ids=cmd.resource_ids)
    selected = domain.select_resources(cmd.cluster_id, in_cluster, confirmed, cmd.resource_ids)
    if isinstance(selected, Rejection):
        await _reject(cmd, selected, uow)
        return

    await uow.q.start_conversion(**cmd.model_dump(include=_TERMS))
    if not selected:
        # Every server and volume was converted one by one: only the POC option is left to turn off.
        await _stop_cluster_poc(uow, cmd.request_id, cmd.customer_id, cmd.cluster_id, rounds=0)
        return
    await _start_round(uow, domain.Conversion(**cmd.model_dump(include=_TERMS)), 1, selected)


async def _reject(cmd: StopPocRequest, rejection: Rejection, uow: UnitOfWork) -> None:
    await uow.q.record_rejected_conversion(
        **cmd.model_dump(include=_TERMS), reason=rejection.reason, detail=rejection.detail
    )
    await uow.emit(
        StopPocRejected(
            request_id=cmd.request_id,
            customer_id=cmd.customer_id,
            cluster_id=cmd.cluster_id,
            reason=rejection.reason,
            detail=rejection.detail,
        )
    )


async def _start_round(
    uow: UnitOfWork, conversion: domain.Conversion, round_: int, resources: list[domain.Resource]
) -> None:
    ids = [r.resource_id for r in resources]
    held = await uow.q.hold_resources(resource_ids=ids, request_id=conversion.request_id, round=round_)
    if len(held) != len(ids):
        raise InvariantViolation(f"round {round_} of {conversion.request_id} could not hold all of {ids}")
    await uow.q.start_round(request_id=conversion.request_id, round=round_, resource_ids=ids)
    await uow.q.set_rounds(request_id=conversion.request_id, rounds=round_)
    await uow.emit(
        StopPocRequested(
            request_id=conversion.request_id,
            round=round_,
            customer_id=conversion.customer_id,
            cluster_id=conversion.cluster_id,
            usage_cycle_months=conversion.usage_cycle_months,
            auto_renew=conversion.auto_renew,
            coupon_code=conversion.coupon_code,
            resources=[RequestedResource(resource_id=r.resource_id, kind=r.kind, spec=r.spec) for r in resources],
        )
    )


async def _stop_cluster_poc(uow: UnitOfWork, request_id: str, customer_id: str, cluster_id: str, rounds: int) -> None:
    stopped_at = utc_now()
    await uow.q.stop_cluster_poc(cluster_id=cluster_id, stopped_at=stopped_at)
    await uow.q.finish_conversion(request_id=request_id, status="stopped", reason=None, detail=None)
    await uow.emit(
        ClusterPocStopped(
            request_id=request_id, customer_id=customer_id, cluster_id=cluster_id, rounds=rounds, stopped_at=stopped_at
        )
    )


async def _open_round(uow: UnitOfWork, request_id: str, round_: int, cluster_id: str) -> tuple[ConversionRow, RoundRow]:
    """Lock the cluster, the conversion and the round a payment outcome is about."""
    await uow.q.lock_cluster(cluster_id=cluster_id)
    conversion = await uow.q.lock_conversion(request_id=request_id)
    round_row = await uow.q.lock_round(request_id=request_id, round=round_)
    if conversion is None or round_row is None:
        raise InvariantViolation(f"no round {round_} of conversion {request_id} is known")
    return conversion, round_row


@registry.query("inventory.stop_poc.quote")
async def quote_stop_poc(quote: StopPocQuote, uow: UnitOfWork) -> Reply | Forward:
    """The screen of steps 3 and 4: the cluster's POC servers and volumes, forwarded to checkout
    for their prices (and from there to payment for the wallet); nothing changes."""
    cluster = await uow.q.cluster(cluster_id=quote.cluster_id)
    busy = await uow.q.conversion_in_progress(cluster_id=quote.cluster_id) if cluster else None
    if rejection := domain.check_request(cluster, quote.customer_id, busy):
        return Reply(QuoteRejected(cluster_id=quote.cluster_id, reason=rejection.reason, detail=rejection.detail))
    resources = [r for r in await _cluster_resources(uow, quote.cluster_id) if r.convertible]
    return Forward(
        QuotePrice(
            **quote.model_dump(),
            resources=[RequestedResource(resource_id=r.resource_id, kind=r.kind, spec=r.spec) for r in resources],
        )
    )


@registry.on("payment.settled")
async def convert_paid_resources(paid: PaymentSettled, uow: UnitOfWork) -> None:
    conversion, round_row = await _open_round(uow, paid.request_id, paid.round, paid.cluster_id)
    if round_row.status == "paid":
        return  # applied already
    if round_row.status != "awaiting_payment":
        # Paid for a round that already failed: give the whole amount back.
        await _refund(uow, paid, {line.resource_id for line in paid.lines})
        return

    paid_until = domain.add_months(paid.settled_at, conversion.usage_cycle_months)
    converted_ids: list[str] = await uow.q.convert_resources(
        request_id=paid.request_id,
        round=paid.round,
        usage_cycle_months=conversion.usage_cycle_months,
        auto_renew=conversion.auto_renew,
        paid_until=paid_until,
        converted_at=utc_now(),
    )
    # A resource deleted while its round was in flight, or made real by the platform meanwhile
    # (converted on its own portal), is not converted by this payment: refund its line.
    not_converted = set(round_row.resource_ids) - set(converted_ids)
    if not_converted:
        await uow.q.release_resources(request_id=paid.request_id, round=paid.round)
        await _refund(uow, paid, not_converted)
    await uow.q.finish_round(
        request_id=paid.request_id, round=paid.round, status="paid", payment_id=paid.payment_id, amount=paid.amount
    )
    if converted_ids:
        await uow.emit(
            ResourcesConverted(
                request_id=paid.request_id,
                round=paid.round,
                cluster_id=paid.cluster_id,
                resource_ids=converted_ids,
                usage_cycle_months=conversion.usage_cycle_months,
                auto_renew=conversion.auto_renew,
                paid_until=paid_until,
            )
        )

    remaining = [r for r in await _cluster_resources(uow, paid.cluster_id) if r.convertible]
    if remaining:
        # POC servers or volumes are left (one joined while this round was in flight): next round.
        await _start_round(uow, conversion, conversion.rounds + 1, remaining)
    else:
        await _stop_cluster_poc(uow, paid.request_id, conversion.customer_id, paid.cluster_id, conversion.rounds)


async def _refund(uow: UnitOfWork, paid: PaymentSettled, resource_ids: set[str]) -> None:
    for line in paid.lines:
        if line.resource_id in resource_ids and line.total > 0:
            await uow.emit(
                WalletCredit(
                    customer_id=paid.customer_id,
                    amount=line.total,
                    reference=f"refund:{paid.payment_id}:{line.resource_id}",
                )
            )


@registry.on("payment.failed")
async def fail_unpaid_round(failed: PaymentFailed, uow: UnitOfWork) -> None:
    detail = f"payment of {failed.amount} VND failed: balance {failed.balance} VND, shortfall {failed.shortfall} VND"
    await _fail_round(uow, failed.request_id, failed.round, failed.cluster_id, failed.reason, detail)


@registry.on("order.rejected")
async def fail_unpriced_round(rejected: OrderRejected, uow: UnitOfWork) -> None:
    await _fail_round(uow, rejected.request_id, rejected.round, rejected.cluster_id, rejected.reason, rejected.detail)


async def _fail_round(uow: UnitOfWork, request_id: str, round_: int, cluster_id: str, reason: str, detail: str) -> None:
    conversion, round_row = await _open_round(uow, request_id, round_, cluster_id)
    if round_row.status != "awaiting_payment":
        return  # decided already
    await uow.q.release_resources(request_id=request_id, round=round_)
    await uow.q.finish_round(request_id=request_id, round=round_, status="failed", payment_id=None, amount=None)
    await uow.q.finish_conversion(request_id=request_id, status="failed", reason=reason, detail=detail)
    await uow.emit(
        StopPocFailed(
            request_id=request_id,
            round=round_,
            customer_id=conversion.customer_id,
            cluster_id=cluster_id,
            reason=reason,
            detail=detail,
        )
    )
