"""Payment's queries (``queries.sql``) and the rows they return."""

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stoppoc.shared import queries


@dataclass(frozen=True)
class WaitingPayment:
    payment_id: str
    order_id: str
    request_id: str
    round: int
    customer_id: str
    cluster_id: str
    amount: int
    currency: str
    lines: list[dict[str, Any]]
    terms: dict[str, Any]
    wait_until: datetime
    traceparent: str | None  # the order's trace, where it came with one
    tracestate: str | None


@dataclass(frozen=True)
class LedgerReference:
    customer_id: str
    amount: int


@dataclass(frozen=True)
class RefundedPayment:
    """The payment a refund (``refund:<payment>:<resource>``) gives back from."""

    order_id: str
    customer_id: str
    status: str
    amount: int  # what it charged
    line_total: int | None  # what it charged for the refund's resource; None: no line names it
    refunded: int  # what its refunds credited already


@dataclass(frozen=True)
class LockedWallet:
    balance: int
    now: datetime  # the transaction's clock


@dataclass(frozen=True)
class WalletBalance:
    customer_id: str
    balance: int


@dataclass(frozen=True)
class WalletRow:
    customer_id: str
    balance: int
    updated_at: datetime


@dataclass(frozen=True)
class WalletSummary:
    customer_id: str
    balance: int
    awaiting_orders: int
    updated_at: datetime


@dataclass(frozen=True)
class LedgerEntry:
    kind: str
    amount: int
    reference: str
    order_id: str | None
    balance_after: int
    created_at: datetime


@dataclass(frozen=True)
class PaymentRow:
    payment_id: str
    order_id: str
    customer_id: str
    cluster_id: str
    round: int
    amount: int
    status: str
    reason: str | None
    balance_after: int
    wait_until: datetime | None
    created_at: datetime
    decided_at: datetime | None


# Analysts' views (`stoppoc settlements`, `stoppoc reconcile`).


@dataclass(frozen=True)
class SettlementLine:
    """A row of `stoppoc settlements export`: a settled line, or a refund (negative)."""

    payment_id: str
    order_id: str | None
    kind: str  # conversion, renewal; refund for a refund
    customer_id: str
    cluster_id: str | None
    resource_id: str
    resource_kind: str | None
    amount: int | None
    cycle_discount: int | None
    coupon_discount: int | None
    tax: int | None
    total: int
    settled_at: datetime
    line_number: int


@dataclass(frozen=True)
class SettledPayment:
    payment_id: str
    order_id: str
    customer_id: str
    amount: int
    decided_at: datetime
    lines_total: int


@dataclass(frozen=True)
class PaymentLines:
    payment_id: str
    status: str
    lines: list[dict[str, Any]]


@dataclass(frozen=True)
class LedgerMovement:
    entry_id: int
    customer_id: str
    kind: str
    amount: int
    reference: str
    order_id: str | None
    balance_after: int
    created_at: datetime
    balance_before: int


@dataclass(frozen=True)
class WalletAgainstLedger:
    customer_id: str
    balance: int
    ledger_sum: int


QUERIES = queries.load(__package__, rows=sys.modules[__name__])
