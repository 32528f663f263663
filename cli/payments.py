"""``stoppoc payments``: the payments of orders."""

from typing import Any

import click

from stoppoc.cli.database import read
from stoppoc.cli.output import json_option, show
from stoppoc.services.payment.queries import QUERIES as PAYMENT
from stoppoc.shared.queries import BoundQueries

PAYMENT_COLUMNS = [
    "payment_id",
    "order_id",
    "customer_id",
    "cluster_id",
    "round",
    "amount",
    "status",
    "reason",
    "balance_after",
    "wait_until",
    "created_at",
    "decided_at",
]
STATUSES = ["awaiting_funds", "settled", "failed"]


@click.group()
def payments() -> None:
    """Payments of orders: settled, failed, or awaiting funds until a deadline."""


@payments.command("list")
@click.option("--customer", help="Only this customer's payments.")
@click.option("--status", type=click.Choice(STATUSES), help="Only payments in this status.")
@json_option
def list_payments(customer: str | None, status: str | None, as_json: bool) -> None:
    """Payments oldest first; one awaiting funds shows until when it waits."""

    async def query(payment: BoundQueries) -> Any:
        return await payment.list_payments(customer_id=customer, status=status, order_ids=None)

    show(read(query, payment=PAYMENT), PAYMENT_COLUMNS, as_json=as_json)
