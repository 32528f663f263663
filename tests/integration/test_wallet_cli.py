"""Acceptance: billing staff read wallets, ledgers and payments with ``stoppoc`` in a subprocess."""

import asyncio
import json
import os
import sys

import pytest

from tests.contract_data import publish_event
from tests.infrastructure import running
from tests.integration.test_payment import order

pytestmark = pytest.mark.integration


async def stoppoc(settings, *args: str) -> tuple[int, str, str]:
    environment = {**os.environ, "STOPPOC_DATABASE_URL": settings.database_url, "COLUMNS": "200"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stoppoc.cli",
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def stoppoc_json(settings, *args: str):
    code, out, err = await stoppoc(settings, *args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
async def billed_customer(settings, client) -> dict:
    """cus-cli: topped up, one order paid, one line of it refunded, one order awaiting funds."""
    paid, waiting = order("cus-cli", 400_000), order("cus-cli", 5_000_000)
    async with running(settings.model_copy(update={"funds_wait_seconds": 600}), "payment"):
        await client.send("payment.wallet.credit", {"customer_id": "cus-cli", "amount": 1_000_000, "reference": "t1"})
        await client.wait_for("wallet.credited")
        await publish_event(client, "order.created", paid)
        settled = await client.wait_for("payment.settled")
        refund = f"refund:{settled.data['payment_id']}:vol-1"
        await client.send("payment.wallet.credit", {"customer_id": "cus-cli", "amount": 100_000, "reference": refund})
        await client.wait_for("wallet.credited", lambda d: d["reference"] == refund)
        await publish_event(client, "order.created", waiting)
        await client.wait_for("payment.awaiting_funds")
        await client.send("payment.wallet.credit", {"customer_id": "cus-other", "amount": 7, "reference": "t2"})
        await client.wait_for("wallet.credited", lambda d: d["reference"] == "t2")
    return {"paid": paid, "waiting": waiting, "refund": refund}


async def test_wallet_show_gives_the_balance_and_a_ledger_that_sums_to_it(settings, billed_customer):
    shown = await stoppoc_json(settings, "wallet", "show", "cus-cli")

    assert shown["customer_id"] == "cus-cli" and shown["balance"] == 700_000
    assert sum(entry["amount"] for entry in shown["ledger"]) == shown["balance"]
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in shown["ledger"]] == [
        ("credit", 1_000_000, 1_000_000),
        ("debit", -400_000, 600_000),
        ("refund", 100_000, 700_000),
    ]
    debit, refund = shown["ledger"][1], shown["ledger"][2]
    assert debit["order_id"] == refund["order_id"] == billed_customer["paid"]["order_id"]
    assert refund["reference"] == billed_customer["refund"] and refund["created_at"].startswith("20")


async def test_wallet_list_and_payments_list_filter_for_scripts(settings, billed_customer):
    wallets = await stoppoc_json(settings, "wallet", "list")
    awaiting = await stoppoc_json(settings, "payments", "list", "--customer", "cus-cli", "--status", "awaiting_funds")
    everything = await stoppoc_json(settings, "payments", "list")

    assert [(w["customer_id"], w["balance"], w["awaiting_orders"]) for w in wallets] == [
        ("cus-cli", 700_000, 1),
        ("cus-other", 7, 0),
    ]
    assert [(p["order_id"], p["amount"], p["wait_until"] is not None) for p in awaiting] == [
        (billed_customer["waiting"]["order_id"], 5_000_000, True),
    ]
    assert [p["status"] for p in everything] == ["settled", "awaiting_funds"]


async def test_on_a_terminal_the_commands_print_readable_tables(settings, billed_customer):
    code, out, _ = await stoppoc(settings, "wallet", "show", "cus-cli")
    assert code == 0
    assert "Wallet of cus-cli: 700,000 VND" in out and "-400,000" in out and "refund" in out

    code, out, _ = await stoppoc(settings, "payments", "list", "--status", "settled")
    assert code == 0 and "400,000" in out and "awaiting_funds" not in out


async def test_an_unknown_customer_is_one_line_and_exit_1(settings, billed_customer):
    code, out, err = await stoppoc(settings, "wallet", "show", "nobody", "--json")

    assert (code, out) == (1, "")
    assert err.strip() == "stoppoc: no wallet for customer 'nobody'"
