"""A Stop POC conversion: its request, its rounds and how it ends.

A request without ``resource_ids`` is the whole cluster: each paid round is followed by one for
the POC servers and volumes that joined meanwhile. A request with them converts exactly those.
Round 1 that cannot be paid or priced fails the conversion (``stop_poc.failed``); a later round
that cannot does not undo the earlier ones (``stop_poc.completed`` with ``failed_round``).

Every step locks the cluster row first, and so does every resource upsert, so a node registered
at any moment is either seen by the step deciding the next round or registered after it.
"""

from stoppoc.contract.base import Rejection
from stoppoc.contract.commands import StopPocRequest
from stoppoc.contract.envelope import utc_now
from stoppoc.contract.errors import InvariantViolation
from stoppoc.contract.events import (
    ClusterPocStopped,
    FailedRound,
    PaymentSettled,
    RequestedResource,
    ResourcesConverted,
    StopPocCompleted,
    StopPocFailed,
    StopPocRejected,
    StopPocRequested,
)
from stoppoc.services.inventory import domain
from stoppoc.services.inventory.queries import ConversionRow, OpenRound, RoundRow
from stoppoc.services.inventory.refunds import refund
from stoppoc.shared.unit_of_work import UnitOfWork

# The terms of a stop request that its conversion keeps.
TERMS = {
    "request_id",
    "customer_id",
    "cluster_id",
    "usage_cycle_months",
    "auto_renew",
    "coupon_code",
    "resource_ids",
    "expected_total",
}


async def cluster_resources(uow: UnitOfWork, cluster_id: str) -> list[domain.Resource]:
    resources: list[domain.Resource] = await uow.q.cluster_resources(cluster_id=cluster_id)
    return resources


async def poc_left(uow: UnitOfWork, cluster_id: str) -> list[domain.Resource]:
    """The cluster's POC servers and volumes that no conversion holds."""
    return [r for r in await cluster_resources(uow, cluster_id) if r.convertible]


async def select(
    uow: UnitOfWork, cluster: domain.Cluster | None, customer_id: str, cluster_id: str, resource_ids: list[str] | None
) -> list[domain.Resource] | Rejection:
    """What a stop request or a quote would convert, or why it cannot (the cluster row is read,
    or locked, by the caller)."""
    in_cluster = await cluster_resources(uow, cluster_id) if cluster else []
    busy = await uow.q.conversion_in_progress(cluster_id=cluster_id) if cluster else None
    left = any(r.convertible for r in in_cluster)
    if rejection := domain.check_request(cluster, customer_id, busy, left):
        return rejection
    confirmed = await uow.q.resources_by_id(resource_ids=resource_ids) if resource_ids else None
    return domain.select_resources(cluster_id, in_cluster, confirmed, resource_ids)


async def request(cmd: StopPocRequest, uow: UnitOfWork) -> None:
    cluster = await uow.q.lock_cluster(cluster_id=cmd.cluster_id)
    if await uow.q.conversion(request_id=cmd.request_id):
        return  # the same request again: it has its answer already
    selected = await select(uow, cluster, cmd.customer_id, cmd.cluster_id, cmd.resource_ids)
    if isinstance(selected, Rejection):
        await _reject(cmd, selected, uow)
        return

    terms = cmd.model_dump(include=TERMS)
    terms["resource_ids"] = sorted(set(cmd.resource_ids)) if cmd.resource_ids else None
    await uow.q.start_conversion(**terms)
    if not selected:
        # Every server and volume was converted one by one: only the POC option is left to turn off.
        await _stop_cluster_poc(uow, cmd.request_id, cmd.customer_id, cmd.cluster_id, rounds=0)
        return
    await _start_round(uow, domain.Conversion(**terms), 1, selected)


async def _reject(cmd: StopPocRequest, rejection: Rejection, uow: UnitOfWork) -> None:
    await uow.q.record_rejected_conversion(
        **cmd.model_dump(include=TERMS - {"resource_ids", "expected_total"}),
        reason=rejection.reason,
        detail=rejection.detail,
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
    held = await uow.q.start_round(resource_ids=ids, request_id=conversion.request_id, round=round_)
    if len(held) != len(ids):
        raise InvariantViolation(f"round {round_} of {conversion.request_id} could not hold all of {ids}")
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
            # Only round 1 is what the portal quoted; later rounds price what joined meanwhile.
            expected_total=conversion.expected_total if round_ == 1 else None,
        )
    )


async def _stop_cluster_poc(uow: UnitOfWork, request_id: str, customer_id: str, cluster_id: str, rounds: int) -> None:
    stopped_at = utc_now()
    await uow.q.stop_cluster_poc(cluster_id=cluster_id, request_id=request_id, stopped_at=stopped_at)
    await uow.emit(
        ClusterPocStopped(
            request_id=request_id, customer_id=customer_id, cluster_id=cluster_id, rounds=rounds, stopped_at=stopped_at
        )
    )


async def _complete(uow: UnitOfWork, conversion: ConversionRow, failed_round: FailedRound | None = None) -> None:
    """End the conversion with the cluster's POC option on: it converted what it could."""
    converted: list[str] = await uow.q.converted_by(request_id=conversion.request_id)
    remaining = await poc_left(uow, conversion.cluster_id)
    reason, detail = (failed_round.reason, failed_round.detail) if failed_round else (None, None)
    await uow.q.finish_conversion(request_id=conversion.request_id, status="completed", reason=reason, detail=detail)
    await uow.emit(
        StopPocCompleted(
            request_id=conversion.request_id,
            customer_id=conversion.customer_id,
            cluster_id=conversion.cluster_id,
            rounds=conversion.rounds,
            converted_resource_ids=converted,
            poc_remaining_resource_ids=[r.resource_id for r in remaining],
            failed_round=failed_round,
            completed_at=utc_now(),
        )
    )


async def _open_round(uow: UnitOfWork, request_id: str, round_: int, cluster_id: str) -> tuple[ConversionRow, RoundRow]:
    """Lock the cluster, the conversion and the round a payment outcome is about."""
    await uow.q.lock_cluster(cluster_id=cluster_id)
    opened: OpenRound | None = await uow.q.lock_round(request_id=request_id, round=round_)
    if opened is None:
        raise InvariantViolation(f"no round {round_} of conversion {request_id} is known")
    return opened, opened.round_row


async def convert_paid_round(paid: PaymentSettled, uow: UnitOfWork) -> None:
    conversion, round_row = await _open_round(uow, paid.request_id, paid.round, paid.cluster_id)
    if round_row.status == "paid":
        return  # applied already
    if round_row.status != "awaiting_payment":
        # Paid for a round that already failed: give the whole amount back.
        await refund(uow, paid, {line.resource_id for line in paid.lines})
        return

    paid_until = domain.add_months(paid.settled_at, conversion.usage_cycle_months)
    converted_ids: list[str] = await uow.q.convert_round(
        request_id=paid.request_id,
        round=paid.round,
        usage_cycle_months=conversion.usage_cycle_months,
        auto_renew=conversion.auto_renew,
        paid_until=paid_until,
        converted_at=utc_now(),
        payment_id=paid.payment_id,
        amount=paid.amount,
    )
    # A resource deleted while its round was in flight, or made real by the platform meanwhile
    # (converted on its own portal), is not converted by this payment: refund its line.
    not_converted = set(round_row.resource_ids) - set(converted_ids)
    if not_converted:
        await uow.q.release_resources(request_id=paid.request_id, round=paid.round)
        await refund(uow, paid, not_converted)
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

    remaining = await poc_left(uow, paid.cluster_id)
    ending = domain.after_paid_round(conversion.resource_ids is None, remaining)
    if ending is domain.Ending.NEXT_ROUND:
        await _start_round(uow, conversion, conversion.rounds + 1, remaining)
    elif ending is domain.Ending.COMPLETED:
        await _complete(uow, conversion)
    else:
        await _stop_cluster_poc(uow, paid.request_id, conversion.customer_id, paid.cluster_id, conversion.rounds)


async def fail_round(uow: UnitOfWork, request_id: str, round_: int, cluster_id: str, reason: str, detail: str) -> None:
    """Round 1 unpaid or unpriced: nothing was converted. A later one: the earlier rounds stay."""
    conversion, round_row = await _open_round(uow, request_id, round_, cluster_id)
    if round_row.status != "awaiting_payment":
        return  # decided already
    await uow.q.release_resources(request_id=request_id, round=round_)
    await uow.q.finish_round(request_id=request_id, round=round_, status="failed", payment_id=None, amount=None)
    if round_ > 1:
        failed = FailedRound(round=round_, reason=reason, detail=detail, resource_ids=round_row.resource_ids)
        await _complete(uow, conversion, failed)
        return
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
