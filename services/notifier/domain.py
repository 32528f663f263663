"""What the customer hears about: the kind of each notification, the fact it tells (so a fact
is told once whatever event ids carry it), and what must be known before it can be written.
Pure: no I/O."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stoppoc.contract.events import PaymentFailed, PaymentSettled, WalletCredited

REFUND_PREFIX = "refund:"


@dataclass(frozen=True)
class Kind:
    """``told``: sent on the customer's channels. The others are recorded only: their figures
    are told in the message that sums up the conversion or renewal they belong to."""

    name: str
    told: bool
    fact: Callable[[Any], str]  # the fact's own key, the same under any event id
    reference: Callable[[Any], str | None] = lambda event: getattr(event, "request_id", None)


def _request(event: Any) -> str:
    return str(event.request_id)


def _renewal(event: Any) -> str:
    return str(event.renewal_id)


def _resource_at(event: Any) -> str:
    return f"{event.resource_id}@{event.paid_until.isoformat()}"


def _no_reference(event: Any) -> None:
    return None


# By routing key. wallet.credited is two kinds: a refund is told, a top-up is the customer's own act.
KINDS: dict[str, Kind] = {
    "cluster.poc_stopped": Kind("cluster_poc_stopped", True, _request),
    "stop_poc.completed": Kind("stop_poc_completed", True, _request),
    "stop_poc.failed": Kind("stop_poc_failed", True, _request),
    "stop_poc.rejected": Kind("stop_poc_rejected", True, _request),
    "payment.awaiting_funds": Kind("payment_awaiting_funds", True, lambda e: str(e.order_id)),
    "cluster.poc_expiring": Kind(
        "cluster_poc_expiring", True, lambda e: f"{e.cluster_id}@{e.poc_expires_at.isoformat()}-{e.days_before:g}"
    ),
    "resource.expiring": Kind(
        "resource_expiring", True, lambda e: f"{_resource_at(e)}-{e.days_left:g}", reference=_no_reference
    ),
    "resources.renewed": Kind("resources_renewed", True, _renewal, reference=_renewal),
    "renewal.failed": Kind("renewal_failed", True, _renewal, reference=_renewal),
    "resource.expired": Kind("resource_expired", True, _resource_at, reference=_no_reference),
    "resource.suspended": Kind("resource_suspended", True, _resource_at, reference=_no_reference),
    "resource.deletion_due": Kind("resource_deletion_due", True, _resource_at, reference=_no_reference),
    "resource.resumed": Kind("resource_resumed", True, _resource_at, reference=_no_reference),
    "payment.settled": Kind("payment_settled", False, lambda e: str(e.payment_id)),
    "payment.failed": Kind("payment_failed", False, lambda e: str(e.order_id)),
    "wallet.credited": Kind("wallet_credited", False, lambda e: str(e.reference), reference=_no_reference),
}
REFUND = Kind("refund", True, lambda e: str(e.reference), reference=_no_reference)

# Every event the notifier records a notification for.
NOTIFIED_EVENTS = frozenset(KINDS)
TOLD_KINDS = frozenset({kind.name for kind in KINDS.values() if kind.told} | {REFUND.name})


def kind_of(routing_key: str, event: Any) -> Kind:
    if routing_key == "wallet.credited" and refunded(event) is not None:
        return REFUND
    return KINDS[routing_key]


def refunded(event: WalletCredited) -> tuple[str, str] | None:
    """The payment and resource a refund credit gives back (``refund:<payment>:<resource>``)."""
    if not event.reference.startswith(REFUND_PREFIX):
        return None
    payment_id, _, resource_id = event.reference.removeprefix(REFUND_PREFIX).partition(":")
    return (payment_id, resource_id) if payment_id and resource_id else None


@dataclass(frozen=True)
class Payments:
    """What payment said about the request, renewal or payment a notification belongs to."""

    settled: tuple[PaymentSettled, ...] = ()
    failed: tuple[PaymentFailed, ...] = ()

    @classmethod
    def of(cls, settled: Sequence[PaymentSettled], failed: Sequence[PaymentFailed]) -> "Payments":
        # The same payment may have been announced under two event ids: count it once.
        by_payment = {p.payment_id: p for p in settled}
        by_order = {f.order_id: f for f in failed}
        return cls(
            tuple(sorted(by_payment.values(), key=lambda p: (p.round, p.settled_at))),
            tuple(sorted(by_order.values(), key=lambda f: f.round)),
        )

    def failure(self, round_: int | None = None) -> PaymentFailed | None:
        matching = [f for f in self.failed if round_ is None or f.round == round_]
        return matching[-1] if matching else None


def is_complete(routing_key: str, event: Any, payments: Payments) -> bool:
    """Whether every payment event the notification sums up has been handled. They are
    published before the event that ends the conversion or renewal, yet may be handled after
    it (several instances, a redelivery), so the e-mail waits for them for a while."""
    short_of_funds = getattr(event, "reason", None) == "insufficient_funds"
    if routing_key in ("cluster.poc_stopped", "stop_poc.completed"):
        failed_round = getattr(event, "failed_round", None)
        if failed_round is not None and failed_round.reason == "insufficient_funds":
            return len(payments.settled) >= int(event.rounds) and payments.failure(failed_round.round) is not None
        return len(payments.settled) >= int(event.rounds)
    if routing_key in ("stop_poc.failed", "renewal.failed"):
        return not short_of_funds or bool(payments.failed)
    if routing_key == "resources.renewed":
        return bool(payments.settled)
    if routing_key == "wallet.credited":
        return refunded(event) is None or bool(payments.settled)
    return True
