"""Events (exchange ``NS.events``): facts that happened; anyone may bind a queue to them."""

from datetime import datetime
from typing import Any

from pydantic import Field

from stoppoc.contract.base import Billing, Id, Message, OrderKind, ResourceKind, money


class ClusterRegistered(Message):
    cluster_id: Id
    customer_id: Id
    poc: bool


class ResourceRegistered(Message):
    resource_id: Id
    cluster_id: Id
    kind: ResourceKind
    billing: Billing


class ResourceDeleted(Message):
    resource_id: Id
    cluster_id: Id


class RequestedResource(Message):
    resource_id: Id
    kind: ResourceKind
    spec: dict[str, Any]


class StopPocRequested(Message):
    request_id: Id
    round: int = Field(ge=1)
    customer_id: Id
    cluster_id: Id
    usage_cycle_months: int = Field(gt=0)
    auto_renew: bool
    coupon_code: str | None
    resources: list[RequestedResource] = Field(min_length=1)
    # Added: round 1 carries the request's expected_total; checkout rejects the order
    # (`price_changed`) when its total differs.
    expected_total: int | None = money(default=None, ge=0)


class StopPocRejected(Message):
    request_id: Id
    customer_id: Id
    cluster_id: Id
    reason: str
    detail: str


class OrderLine(Message):
    resource_id: Id
    kind: ResourceKind
    amount: int = money(ge=0)
    discount: int = money(ge=0)
    tax: int = money(ge=0)
    total: int = money(ge=0)
    # Added fields: what of ``discount`` the usage cycle and the coupon each took off, and the
    # VAT rate ``tax`` was figured at, so an order reads the same whatever today's settings.
    cycle_discount: int = money(ge=0, default=0)
    coupon_discount: int = money(ge=0, default=0)
    vat_percent: int | None = Field(default=None, ge=0, le=100)


class OrderCreated(Message):
    order_id: Id
    request_id: Id  # for a renewal, its renewal_id
    round: int = Field(ge=1)  # a renewal has one round
    customer_id: Id
    cluster_id: Id
    usage_cycle_months: int
    auto_renew: bool
    lines: list[OrderLine] = Field(min_length=1)
    subtotal: int = money(ge=0)
    discount: int = money(ge=0)
    tax: int = money(ge=0)
    total: int = money(ge=0)
    currency: str = "VND"
    coupon_code: str | None = None
    # Added: what the order pays for.
    kind: OrderKind = OrderKind.CONVERSION
    renewal_id: Id | None = None
    # Added: the order's place among its customer's orders (1, 2, ... with no gap, in the order
    # checkout created them); payment settles them in that order. None: settled as it comes.
    customer_sequence: int | None = Field(default=None, ge=1)


class OrderRejected(Message):
    request_id: Id
    round: int
    customer_id: Id
    cluster_id: Id
    reason: str
    detail: str
    kind: OrderKind = OrderKind.CONVERSION
    renewal_id: Id | None = None


class SettledLine(Message):
    """A line of a settled order, self-contained for billing analysts (the added fields)."""

    resource_id: Id
    total: int = money(ge=0)
    kind: ResourceKind | None = None
    amount: int | None = money(default=None, ge=0)
    cycle_discount: int | None = money(default=None, ge=0)
    coupon_discount: int | None = money(default=None, ge=0)
    tax: int | None = money(default=None, ge=0)


class PaymentSettled(Message):
    payment_id: Id
    order_id: Id
    request_id: Id
    round: int
    customer_id: Id
    cluster_id: Id
    amount: int = money(ge=0)
    currency: str = "VND"
    method: str
    balance_after: int = money(ge=0)
    resource_ids: list[Id]
    settled_at: datetime
    # Added fields: what each resource cost (so a resource gone meanwhile can be refunded), and
    # the order's terms and figures, so that an analyst needs nothing else.
    lines: list[SettledLine] = Field(default_factory=list)
    kind: OrderKind = OrderKind.CONVERSION
    renewal_id: Id | None = None
    usage_cycle_months: int | None = None
    auto_renew: bool | None = None
    coupon_code: str | None = None
    subtotal: int | None = money(default=None, ge=0)
    discount: int | None = money(default=None, ge=0)
    tax: int | None = money(default=None, ge=0)
    vat_percent: int | None = Field(default=None, ge=0, le=100)


class PaymentFailed(Message):
    order_id: Id
    request_id: Id
    round: int
    customer_id: Id
    cluster_id: Id
    reason: str
    amount: int = money(ge=0)
    balance: int = money(ge=0)
    shortfall: int = money(ge=0)
    kind: OrderKind = OrderKind.CONVERSION
    renewal_id: Id | None = None
    # Added: what older orders waiting for funds will take first; shortfall accounts for it.
    wallet_reserved: int = money(default=0, ge=0)


class ResourcesConverted(Message):
    request_id: Id
    round: int
    cluster_id: Id
    resource_ids: list[Id]
    usage_cycle_months: int
    auto_renew: bool
    paid_until: datetime


class StopPocFailed(Message):
    request_id: Id
    round: int
    customer_id: Id
    cluster_id: Id
    reason: str
    detail: str


class ClusterPocStopped(Message):
    request_id: Id
    customer_id: Id
    cluster_id: Id
    rounds: int
    stopped_at: datetime


class FailedRound(Message):
    round: int = Field(ge=2)
    reason: str
    detail: str
    resource_ids: list[Id]


class StopPocCompleted(Message):
    """Added event: the conversion converted what it could and ended, the cluster's POC option on
    (POC servers or volumes the customer did not confirm remain), or a later round could not be
    paid or priced (``failed_round``; the rounds before it stay converted)."""

    request_id: Id
    customer_id: Id
    cluster_id: Id
    rounds: int
    converted_resource_ids: list[Id]
    poc_remaining_resource_ids: list[Id]
    failed_round: FailedRound | None = None
    completed_at: datetime


class PaymentAwaitingFunds(Message):
    """Added event: the wallet cannot cover the order yet; it settles by itself if a credit
    arrives before ``wait_until``, else fails with ``insufficient_funds``."""

    order_id: Id
    request_id: Id
    round: int
    customer_id: Id
    cluster_id: Id
    amount: int = money(ge=0)
    balance: int = money(ge=0)
    shortfall: int = money(gt=0)
    wait_until: datetime


class ClusterPocExpiring(Message):
    """Added event: a reminder that the cluster's POC wallet expires soon."""

    cluster_id: Id
    customer_id: Id
    name: str
    poc_expires_at: datetime
    days_before: float


class WalletCredited(Message):
    customer_id: Id
    amount: int = money(gt=0)
    reference: str
    balance_after: int = money(ge=0)


class WalletCreditRejected(Message):
    """Added event: a credit refused, nothing credited: its reference used already for another
    customer or amount, above the ceiling, or a refund its payment does not cover."""

    customer_id: Id
    amount: int = money(gt=0)
    reference: str
    # reference_conflict, amount_over_ceiling, refund_unknown_payment, refund_exceeds_payment
    reason: str
    detail: str


class RenewalRequested(Message):
    """Added event: real resources due for renewal (auto-renew at paid_until, or by hand)."""

    renewal_id: Id
    customer_id: Id
    cluster_id: Id
    usage_cycle_months: int = Field(gt=0)
    resources: list[RequestedResource] = Field(min_length=1)
    reason: str  # auto_renew or manual


class RenewedResource(Message):
    resource_id: Id
    previous_paid_until: datetime | None
    paid_until: datetime


class ResourcesRenewed(Message):
    renewal_id: Id
    customer_id: Id
    cluster_id: Id
    resource_ids: list[Id]
    usage_cycle_months: int
    paid_until: datetime  # the earliest new paid_until of the renewed resources
    # Added: each resource's paid_until before and after (they differ when the resources did).
    resources: list[RenewedResource] = Field(default_factory=list)
    amount: int | None = money(default=None, ge=0)


class RenewalFailed(Message):
    renewal_id: Id
    customer_id: Id
    cluster_id: Id
    resource_ids: list[Id]
    reason: str
    detail: str
    # Added, for the customer's message: the renewal's terms and, when the wallet was short,
    # what it cost and what was missing.
    usage_cycle_months: int | None = None
    paid_until: datetime | None = None  # the earliest paid_until of its resources, unchanged
    amount: int | None = money(default=None, ge=0)
    balance: int | None = money(default=None, ge=0)
    shortfall: int | None = money(default=None, ge=0)


class RenewalRejected(Message):
    """A manual renewal that cannot be: unknown cluster, not the owner, not a real server or
    volume, a cycle not offered."""

    renewal_id: Id
    customer_id: Id
    cluster_id: Id
    reason: str
    detail: str


class ResourceLifecycle(Message):
    """A real resource past its paid_until: expired, suspended, deletion due, or resumed."""

    resource_id: Id
    cluster_id: Id
    customer_id: Id
    paid_until: datetime


class ResourceExpired(ResourceLifecycle):
    pass


class ResourceSuspended(ResourceLifecycle):
    pass


class ResourceDeletionDue(ResourceLifecycle):
    pass


class ResourceResumed(ResourceLifecycle):
    pass


class ResourceExpiring(Message):
    """A reminder before a real resource's paid_until."""

    resource_id: Id
    cluster_id: Id
    customer_id: Id
    paid_until: datetime
    auto_renew: bool
    days_left: float


BY_ROUTING_KEY: dict[str, type[Message]] = {
    "cluster.registered": ClusterRegistered,
    "resource.registered": ResourceRegistered,
    "resource.deleted": ResourceDeleted,
    "stop_poc.requested": StopPocRequested,
    "stop_poc.rejected": StopPocRejected,
    "order.created": OrderCreated,
    "order.rejected": OrderRejected,
    "payment.settled": PaymentSettled,
    "payment.failed": PaymentFailed,
    "resources.converted": ResourcesConverted,
    "stop_poc.failed": StopPocFailed,
    "cluster.poc_stopped": ClusterPocStopped,
    "wallet.credited": WalletCredited,
    "payment.awaiting_funds": PaymentAwaitingFunds,
    "cluster.poc_expiring": ClusterPocExpiring,
    "stop_poc.completed": StopPocCompleted,
    "wallet.credit_rejected": WalletCreditRejected,
    "renewal.requested": RenewalRequested,
    "resources.renewed": ResourcesRenewed,
    "renewal.failed": RenewalFailed,
    "renewal.rejected": RenewalRejected,
    "resource.expired": ResourceExpired,
    "resource.suspended": ResourceSuspended,
    "resource.deletion_due": ResourceDeletionDue,
    "resource.resumed": ResourceResumed,
    "resource.expiring": ResourceExpiring,
}

# Events no stoppoc service consumes: published for the platform, the portal, billing and
# analysts. Every other event of the contract is consumed by a service (tests/unit/test_topology.py).
FOR_SUBSCRIBERS: frozenset[str] = frozenset(
    {
        "cluster.registered",
        "resource.registered",
        "resource.deleted",
        "resources.converted",
        "wallet.credit_rejected",
        "renewal.rejected",
    }
)
