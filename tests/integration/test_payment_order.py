"""The wallet's order against a real RabbitMQ and PostgreSQL: a customer's orders are decided in
the order checkout created them, renewals settle at once from what orders waiting for funds
leave, and a conflicting credit reference is refused once."""

import pytest

from stoppoc.contract.events import PaymentFailed
from tests.contract_data import handled, publish_event, wait_until
from tests.infrastructure import running
from tests.integration.test_payment import order
from tests.integration.test_payment_waits import about, credit, status_of

pytestmark = pytest.mark.integration


def numbered(customer_id: str, total: int, customer_sequence: int) -> dict:
    return order(customer_id, total, customer_sequence=customer_sequence)


async def held_orders(database, customer_id: str) -> list[str]:
    rows = await database.fetch(
        "SELECT order_id FROM payment.held_orders WHERE customer_id = $1 ORDER BY customer_sequence", customer_id
    )
    return [row["order_id"] for row in rows]


async def test_an_order_that_comes_before_its_predecessor_is_decided_right_after_it(settings, client, database):
    async with running(settings, "payment"):
        await credit(client, "cus-1", 1_000, "topup-1")
        first, second = numbered("cus-1", 600, 1), numbered("cus-1", 300, 2)
        early = await publish_event(client, "order.created", second)
        await wait_until(lambda: handled(database, "payment", early.id), what="the second order handled")
        held = await held_orders(database, "cus-1")
        assert await status_of(database, second) is None  # nothing decided while its predecessor is missing
        await publish_event(client, "order.created", first)
        settled_second = (await client.wait_for("payment.settled", about(second))).data
        settled_first = (await client.wait_for("payment.settled", about(first))).data

    assert held == [second["order_id"]]
    assert (settled_first["balance_after"], settled_second["balance_after"]) == (400, 100)
    debits = await database.fetch("SELECT order_id FROM payment.ledger WHERE kind = 'debit' ORDER BY entry_id")
    assert [row["order_id"] for row in debits] == [first["order_id"], second["order_id"]]
    assert await held_orders(database, "cus-1") == []


async def test_an_order_whose_predecessor_never_comes_is_decided_after_the_gap(settings, client, database):
    gap = settings.model_copy(update={"order_gap_seconds": 1, "sweep_seconds": 0.2})
    async with running(gap, "payment"):
        await credit(client, "cus-1", 1_000, "topup-1")
        third, fourth = numbered("cus-1", 200, 3), numbered("cus-1", 100, 4)
        await publish_event(client, "order.created", fourth)
        await publish_event(client, "order.created", third)  # 1 and 2 are lost
        settled_third = (await client.wait_for("payment.settled", about(third))).data
        settled_fourth = (await client.wait_for("payment.settled", about(fourth))).data
        late = numbered("cus-1", 400, 1)  # decided as it comes: nothing is left to wait for
        await publish_event(client, "order.created", late)
        settled_late = (await client.wait_for("payment.settled", about(late))).data

    # Decided in sequence once the gap was given up on: 3, then 4.
    assert (settled_third["balance_after"], settled_fourth["balance_after"]) == (800, 700)
    assert settled_late["balance_after"] == 300
    recorded = await database.fetchval("SELECT recorded_sequence FROM payment.wallets WHERE customer_id = 'cus-1'")
    assert recorded == 4 and await held_orders(database, "cus-1") == []


def renewal(customer_id: str, total: int) -> dict:
    data = order(customer_id, total, kind="renewal")
    return {**data, "renewal_id": data["request_id"]}


async def test_a_renewal_never_waits_and_never_takes_what_an_older_waiting_order_needs(settings, client, database):
    async with running(settings.model_copy(update={"funds_wait_seconds": 60}), "payment"):
        await credit(client, "cus-1", 1_000, "topup-1")
        conversion = order("cus-1", 5_000)
        await publish_event(client, "order.created", conversion)
        await client.wait_for("payment.awaiting_funds", about(conversion))
        early = renewal("cus-1", 800)  # the balance would cover it, but not after the older order
        await publish_event(client, "order.created", early)
        refused = PaymentFailed.model_validate((await client.wait_for("payment.failed", about(early))).data)
        await credit(client, "cus-1", 4_800, "topup-2")  # settles the conversion order: 800 left
        await client.wait_for("payment.settled", about(conversion))
        late = renewal("cus-1", 800)
        await publish_event(client, "order.created", late)
        settled = (await client.wait_for("payment.settled", about(late))).data

    assert (refused.kind, refused.renewal_id, refused.reason) == ("renewal", early["renewal_id"], "insufficient_funds")
    assert (refused.balance, refused.wallet_reserved, refused.shortfall) == (1_000, 5_000, 4_800)
    assert not client.seen("payment.awaiting_funds", about(early))
    assert (settled["kind"], settled["renewal_id"], settled["balance_after"]) == ("renewal", late["renewal_id"], 0)
    assert await status_of(database, early) == "failed"


async def test_a_conflicting_credit_reference_is_refused_once_whatever_its_message_id(settings, client, database):
    async with running(settings, "payment"):
        await credit(client, "cus-1", 500, "bank-42")
        conflicting = {"customer_id": "cus-2", "amount": 500, "reference": "bank-42"}
        copies = [await client.send("payment.wallet.credit", conflicting) for _ in range(2)]
        await wait_until(lambda: handled(database, "payment", *(c.id for c in copies)), what="both copies handled")
        await client.wait_for("wallet.credit_rejected")
        await credit(client, "cus-2", 1, "marker")  # published after the rejections, if any were twice

    rejected = client.seen("wallet.credit_rejected")
    assert [(e.data["customer_id"], e.data["reason"]) for e in rejected] == [("cus-2", "reference_conflict")]
    assert "another customer" in rejected[0].data["detail"]
    ledger = await database.fetch("SELECT customer_id, amount FROM payment.ledger ORDER BY entry_id")
    assert [tuple(row) for row in ledger] == [("cus-1", 500), ("cus-2", 1)]
