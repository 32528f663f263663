"""Inventory: the platform's clusters and resources, and the Stop POC conversion.

Every handler that touches a cluster's conversion locks the cluster row first, so the
messages of one cluster are applied one at a time whatever order they arrive in.
"""

import json

import asyncpg

from shared.contract.base import Billing, ResourceKind
from shared.contract.commands import (
    ClusterUpsert,
    ResourceDelete,
    ResourceUpsert,
    StopPocQuote,
    StopPocRequest,
    WalletCredit,
)
from shared.contract.events import (
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
from shared.envelope import utc_now
from shared.contract.replies import QuotePrice, QuoteRejected
from shared.errors import InvariantViolation
from shared.handlers import Forward, HandlerRegistry, Reply
from shared.unit_of_work import UnitOfWork

from services.inventory import domain

registry = HandlerRegistry()


def _conversion(row: asyncpg.Record) -> domain.Conversion:
    return domain.Conversion(**{field: row[field] for field in domain.Conversion.__dataclass_fields__})


def _resource(row: asyncpg.Record) -> domain.Resource:
    return domain.Resource(
        resource_id=row["resource_id"],
        cluster_id=row["cluster_id"],
        kind=ResourceKind(row["kind"]),
        billing=Billing(row["billing"]),
        spec=json.loads(row["spec"]),
        held_by=row["converting_request_id"],
        deleted=row["deleted"],
    )


async def _cluster_resources(uow: UnitOfWork, cluster_id: str) -> list[domain.Resource]:
    return [_resource(row) for row in await uow.fetch("cluster_resources", cluster_id)]


@registry.on("inventory.cluster.upsert")
async def upsert_cluster(cmd: ClusterUpsert, uow: UnitOfWork) -> None:
    await uow.execute("upsert_cluster", cmd.cluster_id, cmd.customer_id, cmd.name, cmd.poc, cmd.poc_expires_at)
    await uow.emit(ClusterRegistered(cluster_id=cmd.cluster_id, customer_id=cmd.customer_id, poc=cmd.poc))


@registry.on("inventory.resource.upsert")
async def upsert_resource(cmd: ResourceUpsert, uow: UnitOfWork) -> None:
    await uow.execute(
        "upsert_resource", cmd.resource_id, cmd.cluster_id, cmd.kind.value, cmd.billing.value, json.dumps(cmd.spec)
    )
    await uow.emit(
        ResourceRegistered(resource_id=cmd.resource_id, cluster_id=cmd.cluster_id, kind=cmd.kind, billing=cmd.billing)
    )


@registry.on("inventory.resource.delete")
async def delete_resource(cmd: ResourceDelete, uow: UnitOfWork) -> None:
    deleted = await uow.fetchrow("delete_resource", cmd.resource_id)
    if deleted is None:
        return  # unknown or deleted already: nothing changes
    await uow.emit(ResourceDeleted(resource_id=deleted["resource_id"], cluster_id=deleted["cluster_id"]))


@registry.on("inventory.stop_poc.request")
async def request_stop_poc(cmd: StopPocRequest, uow: UnitOfWork) -> None:
    row = await uow.fetchrow("lock_cluster", cmd.cluster_id)
    if await uow.fetchrow("conversion", cmd.request_id):
        return  # the same request again: it has its answer already
    cluster = row and domain.Cluster(row["cluster_id"], row["customer_id"], row["poc"])
    busy = await uow.fetchval("conversion_in_progress", cmd.cluster_id) if row else None
    if rejection := domain.check_request(cluster, cmd.customer_id, busy):
        return await _reject(cmd, rejection, uow)

    in_cluster = await _cluster_resources(uow, cmd.cluster_id)
    confirmed = None
    if cmd.resource_ids:
        confirmed = [_resource(r) for r in await uow.fetch("resources_by_id", cmd.resource_ids)]
    selected = domain.select_resources(cmd.cluster_id, in_cluster, confirmed, cmd.resource_ids)
    if isinstance(selected, domain.Rejection):
        return await _reject(cmd, selected, uow)

    await uow.execute(
        "insert_conversion", cmd.request_id, cmd.customer_id, cmd.cluster_id, cmd.usage_cycle_months,
        cmd.auto_renew, cmd.coupon_code, "in_progress", 0, None, None,
    )
    if not selected:
        # Every server and volume was converted one by one: only the POC option is left to turn off.
        return await _stop_cluster_poc(uow, cmd.request_id, cmd.customer_id, cmd.cluster_id, rounds=0)
    conversion = domain.Conversion(
        cmd.request_id, cmd.customer_id, cmd.cluster_id, cmd.usage_cycle_months, cmd.auto_renew, cmd.coupon_code
    )
    await _start_round(uow, conversion, 1, selected)


async def _reject(cmd: StopPocRequest, rejection: domain.Rejection, uow: UnitOfWork) -> None:
    await uow.execute(
        "insert_conversion", cmd.request_id, cmd.customer_id, cmd.cluster_id, cmd.usage_cycle_months,
        cmd.auto_renew, cmd.coupon_code, "rejected", 0, rejection.reason, rejection.detail,
    )
    await uow.emit(
        StopPocRejected(
            request_id=cmd.request_id, customer_id=cmd.customer_id, cluster_id=cmd.cluster_id,
            reason=rejection.reason, detail=rejection.detail,
        )
    )


async def _start_round(
    uow: UnitOfWork, conversion: domain.Conversion, round_: int, resources: list[domain.Resource]
) -> None:
    ids = [r.resource_id for r in resources]
    held = await uow.execute("hold_resources", ids, conversion.request_id, round_)
    if held != f"UPDATE {len(ids)}":
        raise InvariantViolation(f"round {round_} of {conversion.request_id} could not hold all of {ids}")
    await uow.execute("start_round", conversion.request_id, round_, ids)
    await uow.execute("set_rounds", conversion.request_id, round_)
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
    await uow.execute("stop_cluster_poc", cluster_id, stopped_at)
    await uow.execute("finish_conversion", request_id, "stopped", None, None)
    await uow.emit(
        ClusterPocStopped(
            request_id=request_id, customer_id=customer_id, cluster_id=cluster_id, rounds=rounds, stopped_at=stopped_at
        )
    )


async def _open_round(uow: UnitOfWork, request_id: str, round_: int, cluster_id: str):
    """Lock the cluster, the conversion and the round a payment outcome is about."""
    await uow.fetchrow("lock_cluster", cluster_id)
    conversion = await uow.fetchrow("lock_conversion", request_id)
    round_row = await uow.fetchrow("lock_round", request_id, round_)
    if conversion is None or round_row is None:
        raise InvariantViolation(f"no round {round_} of conversion {request_id} is known")
    return conversion, round_row


@registry.query("inventory.stop_poc.quote")
async def quote_stop_poc(quote: StopPocQuote, uow: UnitOfWork) -> Reply | Forward:
    """The screen of steps 3 and 4: the cluster's POC servers and volumes, forwarded to checkout
    for their prices (and from there to payment for the wallet); nothing changes."""
    row = await uow.fetchrow("cluster", quote.cluster_id)
    cluster = row and domain.Cluster(row["cluster_id"], row["customer_id"], row["poc"])
    busy = await uow.fetchval("conversion_in_progress", quote.cluster_id) if row else None
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
    if round_row["status"] == "paid":
        return  # applied already
    if round_row["status"] != "awaiting_payment":
        # Paid for a round that already failed: give the whole amount back.
        await _refund(uow, paid, {line.resource_id for line in paid.lines})
        return

    paid_until = domain.add_months(paid.settled_at, conversion["usage_cycle_months"])
    converted = await uow.fetch(
        "convert_resources", paid.request_id, paid.round, conversion["usage_cycle_months"],
        conversion["auto_renew"], paid_until, utc_now(),
    )
    converted_ids = sorted(r["resource_id"] for r in converted)
    # A resource deleted while its round was in flight, or made real by the platform meanwhile
    # (converted on its own portal), is not converted by this payment: refund its line.
    not_converted = set(round_row["resource_ids"]) - set(converted_ids)
    if not_converted:
        await uow.execute("release_resources", paid.request_id, paid.round)
        await _refund(uow, paid, not_converted)
    await uow.execute("finish_round", paid.request_id, paid.round, "paid", paid.payment_id, paid.amount)
    if converted_ids:
        await uow.emit(
            ResourcesConverted(
                request_id=paid.request_id, round=paid.round, cluster_id=paid.cluster_id, resource_ids=converted_ids,
                usage_cycle_months=conversion["usage_cycle_months"], auto_renew=conversion["auto_renew"],
                paid_until=paid_until,
            )
        )

    remaining = [r for r in await _cluster_resources(uow, paid.cluster_id) if r.convertible]
    if remaining:
        # POC servers or volumes are left (one joined while this round was in flight): next round.
        round_next = conversion["rounds"] + 1
        await _start_round(uow, _conversion(conversion), round_next, remaining)
    else:
        await _stop_cluster_poc(uow, paid.request_id, conversion["customer_id"], paid.cluster_id, conversion["rounds"])


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
    if round_row["status"] != "awaiting_payment":
        return  # decided already
    await uow.execute("release_resources", request_id, round_)
    await uow.execute("finish_round", request_id, round_, "failed", None, None)
    await uow.execute("finish_conversion", request_id, "failed", reason, detail)
    await uow.emit(
        StopPocFailed(
            request_id=request_id, round=round_, customer_id=conversion["customer_id"], cluster_id=cluster_id,
            reason=reason, detail=detail,
        )
    )
