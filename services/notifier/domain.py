"""What the customer is told about each outcome: pure text rendering, no I/O."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stoppoc.contract.events import (
    ClusterPocExpiring,
    ClusterPocStopped,
    PaymentAwaitingFunds,
    PaymentFailed,
    PaymentSettled,
    StopPocFailed,
    StopPocRejected,
    WalletCredited,
)


@dataclass(frozen=True)
class Notification:
    customer_id: str
    kind: str
    title: str
    body: str
    request_id: str | None = None
    cluster_id: str | None = None


def vnd(amount: int) -> str:
    return f"{amount:,} VND"


def about(event: Any, kind: str, title: str, body: str) -> Notification:
    # Events of a conversion name its request and cluster; a wallet credit names neither.
    return Notification(
        event.customer_id, kind, title, body, getattr(event, "request_id", None), getattr(event, "cluster_id", None)
    )


def utc(moment: datetime) -> str:
    """The moment as customers read it. The contract's times are UTC; one without a zone is read as UTC too."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def stop_poc_rejected(event: StopPocRejected) -> Notification:
    return about(
        event,
        "stop_poc_rejected",
        f"Stop POC for cluster {event.cluster_id} was not started",
        f"Your request to stop POC on cluster {event.cluster_id} was rejected: {event.detail} "
        f"(reason: {event.reason}). Nothing was charged.",
    )


def payment_settled(event: PaymentSettled) -> Notification:
    return about(
        event,
        "payment_settled",
        f"Payment of {vnd(event.amount)} received",
        f"We charged {vnd(event.amount)} to your credit wallet for {plural(len(event.resource_ids), 'resource')} "
        f"of cluster {event.cluster_id} (round {event.round}). Your balance is now {vnd(event.balance_after)}.",
    )


def payment_awaiting_funds(event: PaymentAwaitingFunds) -> Notification:
    until = utc(event.wait_until)
    return about(
        event,
        "payment_awaiting_funds",
        f"Top up {vnd(event.shortfall)} by {until} to finish stopping POC",
        f"Stopping POC on cluster {event.cluster_id} (round {event.round}) costs {vnd(event.amount)}; your credit "
        f"wallet holds {vnd(event.balance)}, {vnd(event.shortfall)} short. Top up at least {vnd(event.shortfall)} "
        f"by {until} and we will charge it then; after that the payment fails and the resources stay POC.",
    )


def payment_failed(event: PaymentFailed) -> Notification:
    if event.reason == "insufficient_funds":
        why = (
            f"your credit wallet holds {vnd(event.balance)}, {vnd(event.shortfall)} short. "
            f"Top up at least {vnd(event.shortfall)} and stop POC again"
        )
    else:
        why = f"the payment failed ({event.reason})"
    return about(
        event,
        "payment_failed",
        f"Payment of {vnd(event.amount)} failed",
        f"We could not charge {vnd(event.amount)} for cluster {event.cluster_id} (round {event.round}): {why}.",
    )


def stop_poc_failed(event: StopPocFailed) -> Notification:
    return about(
        event,
        "stop_poc_failed",
        f"Stop POC for cluster {event.cluster_id} did not complete",
        f"Round {event.round} of stopping POC on cluster {event.cluster_id} ended without converting: "
        f"{event.detail} (reason: {event.reason}). Its resources are POC resources again.",
    )


def cluster_poc_stopped(event: ClusterPocStopped) -> Notification:
    when = utc(event.stopped_at)
    if event.rounds:
        how = f"its resources were converted to paid resources in {plural(event.rounds, 'round')}"
    else:
        how = "its resources had already been converted, so nothing was charged"
    return about(
        event,
        "cluster_poc_stopped",
        f"Cluster {event.cluster_id} is no longer a POC",
        f"The POC option of cluster {event.cluster_id} was turned off at {when}: {how}.",
    )


def wallet_credited(event: WalletCredited) -> Notification:
    return about(
        event,
        "wallet_credited",
        f"{vnd(event.amount)} added to your credit wallet",
        f"{vnd(event.amount)} was added to your credit wallet (reference {event.reference}). "
        f"Your balance is now {vnd(event.balance_after)}.",
    )


def cluster_poc_expiring(event: ClusterPocExpiring) -> Notification:
    when = utc(event.poc_expires_at)
    return about(
        event,
        "cluster_poc_expiring",
        f"The POC of cluster {event.name} ends on {when}",
        f"The trial credit of cluster {event.name} ({event.cluster_id}) expires on {when}. Stop POC before then "
        f"to keep its servers and volumes as paid resources with their configuration intact, "
        f"or delete the cluster.",
    )


RENDERERS: dict[str, Callable[[Any], Notification]] = {
    "cluster.poc_expiring": cluster_poc_expiring,
    "stop_poc.rejected": stop_poc_rejected,
    "payment.settled": payment_settled,
    "payment.failed": payment_failed,
    "payment.awaiting_funds": payment_awaiting_funds,
    "stop_poc.failed": stop_poc_failed,
    "cluster.poc_stopped": cluster_poc_stopped,
    "wallet.credited": wallet_credited,
}
