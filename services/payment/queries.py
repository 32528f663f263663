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


@dataclass(frozen=True)
class LedgerReference:
    customer_id: str
    amount: int


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


QUERIES = queries.load(__package__, rows=sys.modules[__name__])
