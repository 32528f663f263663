"""``stoppoc wallet`` and ``stoppoc payments``: credit wallets, their ledger and the payments of orders."""


import click

from services.admin import fail, with_database
from services.output import json_option, show, show_with_rows

LEDGER_COLUMNS = ["kind", "amount", "reference", "order_id", "balance_after", "created_at"]
PAYMENT_COLUMNS = ["payment_id", "order_id", "customer_id", "cluster_id", "round", "amount", "status", "reason",
                   "balance_after", "wait_until", "created_at", "decided_at"]
STATUSES = ["awaiting_funds", "settled", "failed"]


@click.group()
def wallet() -> None:
    """Credit wallets: balances and the ledger that explains each one."""


@wallet.command("show")
@click.argument("customer_id")
@json_option
def show_wallet(customer_id: str, as_json: bool) -> None:
    """A customer's balance and every ledger entry: credits, refunds and debits per order."""

    async def query(conn):
        found = await conn.fetchrow(
            "SELECT customer_id, balance, updated_at FROM payment.wallets WHERE customer_id = $1", customer_id
        )
        ledger = await conn.fetch(
            f"SELECT {', '.join(LEDGER_COLUMNS)} FROM payment.ledger WHERE customer_id = $1 ORDER BY entry_id",
            customer_id,
        )
        return found, ledger

    found, ledger = with_database(query)
    if found is None:
        fail(f"no wallet for customer {customer_id!r}")
    show_with_rows(dict(found), "ledger", ledger, as_json=as_json, record_columns=None, row_columns=LEDGER_COLUMNS,
                   title=f"Wallet of {customer_id}: {found['balance']:,} VND")


@wallet.command("list")
@json_option
def list_wallets(as_json: bool) -> None:
    """Every wallet with its balance and how many orders wait for a top-up."""

    async def query(conn):
        return await conn.fetch(
            "SELECT w.customer_id, w.balance, count(p.payment_id) AS awaiting_orders, w.updated_at"
            " FROM payment.wallets w LEFT JOIN payment.payments p"
            "   ON p.customer_id = w.customer_id AND p.status = 'awaiting_funds'"
            " GROUP BY w.customer_id ORDER BY w.customer_id"
        )

    rows = [dict(row) for row in with_database(query)]
    show(rows, ["customer_id", "balance", "awaiting_orders", "updated_at"], as_json=as_json)


@click.group()
def payments() -> None:
    """Payments of orders: settled, failed, or awaiting funds until a deadline."""


@payments.command("list")
@click.option("--customer", help="Only this customer's payments.")
@click.option("--status", type=click.Choice(STATUSES), help="Only payments in this status.")
@json_option
def list_payments(customer: str | None, status: str | None, as_json: bool) -> None:
    """Payments oldest first; one awaiting funds shows until when it waits."""

    async def query(conn):
        return await conn.fetch(
            f"SELECT {', '.join(PAYMENT_COLUMNS)} FROM payment.payments"
            " WHERE ($1::text IS NULL OR customer_id = $1) AND ($2::text IS NULL OR status = $2)"
            " ORDER BY created_at, payment_id",
            customer,
            status,
        )

    rows = [dict(row) for row in with_database(query)]
    show(rows, PAYMENT_COLUMNS, as_json=as_json)
