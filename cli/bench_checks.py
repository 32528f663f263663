"""What ``stoppoc bench`` checks after its load, from the services' own tables: every wallet
reconciles with its ledger and its payments, and how many messages each service handled."""

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aio_pika.abc import AbstractChannel

from stoppoc.cli.bench_usage import SQL
from stoppoc.services.payment.queries import QUERIES as PAYMENT
from stoppoc.services.payment.queries import LedgerEntry, PaymentRow, WalletRow
from stoppoc.services.registry import SERVICES
from stoppoc.shared import db
from stoppoc.shared.queries import BoundQueries
from stoppoc.shared.topology import Names


@dataclass
class Reconciliation:
    wallets: int = 0
    problems: dict[str, list[str]] = field(default_factory=dict)  # by customer

    @property
    def reconciled(self) -> int:
        return self.wallets - len(self.problems)


def wallet_problems(
    customer_id: str,
    credited: int,
    wallet: WalletRow | None,
    ledger: Sequence[LedgerEntry],
    payments: Sequence[PaymentRow],
) -> list[str]:
    """Why this wallet does not reconcile (nothing when it does): its balance is its ledger's sum,
    every running balance is right and never negative, its credits are what was credited, and its
    debits are exactly its settled payments, one each, none still waiting."""
    if wallet is None:
        return [f"{customer_id}: no wallet"]
    problems = []
    running = 0
    for entry in ledger:
        running += entry.amount
        if entry.balance_after != running or running < 0:
            problems.append(
                f"{customer_id}: {entry.reference} says {entry.balance_after} after it, the ledger {running}"
            )
    if wallet.balance != running:
        problems.append(f"{customer_id}: balance {wallet.balance}, ledger sum {running}")
    credits = sum(e.amount for e in ledger if e.kind == "credit")
    if credits != credited:
        problems.append(f"{customer_id}: credits {credits}, credited {credited}")
    debits = {e.order_id: -e.amount for e in ledger if e.kind == "debit"}
    settled = {p.order_id: p.amount for p in payments if p.status == "settled"}
    if debits != settled or len(debits) != sum(e.kind == "debit" for e in ledger):
        problems.append(f"{customer_id}: debits {debits} are not the settled payments {settled}")
    if waiting := [p.order_id for p in payments if p.status == "awaiting_funds"]:
        problems.append(f"{customer_id}: orders still waiting for funds {waiting}")
    return problems


async def reconcile(payment: BoundQueries, credited: Mapping[str, int]) -> Reconciliation:
    """Each of these customers' wallet, given what was credited to it, through payment's queries."""
    result = Reconciliation(wallets=len(credited))
    for customer_id, amount in credited.items():
        wallet = await payment.wallet(customer_id=customer_id)
        ledger = await payment.ledger(customer_id=customer_id)
        payments = await payment.list_payments(customer_id=customer_id, status=None, order_ids=None)
        if problems := wallet_problems(customer_id, amount, wallet, ledger, payments):
            result.problems[customer_id] = problems
    return result


class ServiceTables:
    """Counts read from each service's own tables, and payment's queries, on one connection."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url

    async def __aenter__(self) -> "ServiceTables":
        self._conn = await db.connect(self._database_url, "payment")
        self.payment = PAYMENT.bind(self._conn)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._conn.close()

    async def _count(self, query: str) -> dict[str, int]:
        return {service: int(await SQL[query].run(self._conn, {"schema": service})) for service in SERVICES}

    async def handled(self) -> dict[str, int]:
        """Messages each service has handled so far: its inbox rows."""
        return await self._count("inbox_rows")

    async def quiet(self, channel: AbstractChannel, names: Names, poll_seconds: float = 0.25) -> dict[str, int]:
        """Wait until nothing is left to do: no message waiting in a service's queue, nothing
        left in an outbox, no message handled since the last look. The messages each handled."""
        before = await self.handled()
        while True:
            await asyncio.sleep(poll_seconds)
            waiting = 0
            for service in SERVICES:
                queue = await channel.declare_queue(names.queue(service), passive=True)
                waiting += queue.declaration_result.message_count or 0
            unpublished = sum((await self._count("unpublished_outbox")).values())
            handled = await self.handled()
            if waiting == 0 and unpublished == 0 and handled == before:
                return handled
            before = handled
