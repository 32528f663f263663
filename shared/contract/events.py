"""Events (exchange ``NS.events``): facts that happened; anyone may bind a queue to them."""

from datetime import datetime
from typing import Any

from pydantic import Field

from shared.contract.base import Billing, Id, Message, ResourceKind, money


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
    # Added fields: what of ``discount`` the usage cycle and the coupon each took off.
    cycle_discount: int = money(ge=0, default=0)
    coupon_discount: int = money(ge=0, default=0)


class OrderCreated(Message):
    order_id: Id
    request_id: Id
    round: int = Field(ge=1)
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


class OrderRejected(Message):
    request_id: Id
    round: int
    customer_id: Id
    cluster_id: Id
    reason: str
    detail: str


class SettledLine(Message):
    resource_id: Id
    total: int = money(ge=0)


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
    # Added field: what each resource cost, so a resource gone meanwhile can be refunded.
    lines: list[SettledLine] = Field(default_factory=list)


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
}
