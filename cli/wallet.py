"""``stoppoc wallet``: credit wallets and the ledger that explains each balance."""

from typing import Any

import click

from stoppoc.cli.database import fail, read
from stoppoc.cli.output import echo_json, json_option, show, show_with_rows
from stoppoc.cli.sending import command, with_client
from stoppoc.contract.commands import WalletCredit
from stoppoc.services.payment.queries import QUERIES as PAYMENT
from stoppoc.shared.queries import BoundQueries

LEDGER_COLUMNS = ["kind", "amount", "reference", "order_id", "balance_after", "created_at"]


@click.group()
def wallet() -> None:
    """Credit wallets: balances and the ledger that explains each one."""


@wallet.command("show")
@click.argument("customer_id")
@json_option
def show_wallet(customer_id: str, as_json: bool) -> None:
    """A customer's balance and every ledger entry: credits, refunds and debits per order."""

    async def query(payment: BoundQueries) -> Any:
        return await payment.wallet(customer_id=customer_id), await payment.ledger(customer_id=customer_id)

    found, ledger = read(query, payment=PAYMENT)
    if found is None:
        fail(f"no wallet for customer {customer_id!r}")
    show_with_rows(
        found,
        "ledger",
        ledger,
        as_json=as_json,
        record_columns=None,
        row_columns=LEDGER_COLUMNS,
        title=f"Wallet of {customer_id}: {found.balance:,} VND",
    )


@wallet.command("list")
@json_option
def list_wallets(as_json: bool) -> None:
    """Every wallet with its balance and how many orders wait for a top-up."""

    async def query(payment: BoundQueries) -> Any:
        return await payment.list_wallets()

    show(read(query, payment=PAYMENT), ["customer_id", "balance", "awaiting_orders", "updated_at"], as_json=as_json)


@wallet.command("credit")
@click.argument("customer_id")
@click.argument("amount", type=int)
@click.option("--reference", required=True, help="Unique per credit: the same reference again credits once.")
@json_option
def credit_wallet(customer_id: str, amount: int, reference: str, as_json: bool) -> None:
    """Credit AMOUNT VND to the wallet of CUSTOMER_ID (payment.wallet.credit).

    Payment applies it once per reference: a reference used for another customer or amount is
    refused (wallet.credit_rejected). `stoppoc wallet show CUSTOMER_ID` shows the result.
    """
    credit = command(WalletCredit, customer_id=customer_id, amount=amount, reference=reference)
    sent = with_client(lambda client: client.credit_wallet(credit))
    if as_json:
        echo_json({"message_id": sent.id, **credit.model_dump()})
    else:
        click.echo(f"sent a credit of {amount:,} VND to {customer_id} (reference {reference})")
