"""The wallet, black-box: a credit reference means one credit, and a customer's orders settle
in the order they were created."""

import pytest

from tests.contract_data import SampleCluster, unique_id
from tests.e2e.steps import PURCHASE, balance, credit, of, outcome, press, quote, small_cluster, with_settings

pytestmark = pytest.mark.e2e


async def test_a_credit_whose_reference_was_used_for_another_customer_or_amount_is_refused(services, client, database):
    await services.start("payment")
    alice, bob, reference = unique_id("alice"), unique_id("bob"), unique_id("bank-transfer")
    first = {"customer_id": alice, "amount": 100_000, "reference": reference}
    await client.send("payment.wallet.credit", first)
    await client.wait_for("wallet.credited", lambda d: d["reference"] == reference)

    for conflicting in ({**first, "customer_id": bob}, {**first, "amount": 200_000}):
        await client.send("payment.wallet.credit", conflicting)
        refused = await client.wait_for(
            "wallet.credit_rejected",
            lambda d, c=conflicting: (d["customer_id"], d["amount"]) == (c["customer_id"], c["amount"]),
        )
        assert (refused.data["reason"], refused.data["reference"]) == ("reference_conflict", reference)
        assert reference in refused.data["detail"]
    await client.send("payment.wallet.credit", first)  # the same credit again: no change, no event
    await credit(client, alice, 1)  # handled after the repeat, in the same queue

    assert len(client.seen("wallet.credited", lambda d: d["reference"] == reference)) == 1
    assert len(client.seen("wallet.credit_rejected")) == 2
    assert await balance(database, alice) == 100_001
    assert await balance(database, bob) == 0


async def test_a_new_order_waits_behind_an_older_one_waiting_for_funds_and_they_settle_in_order(
    services, client, database
):
    with_settings(services, funds_wait_seconds=120)
    await services.start(*PURCHASE)
    big, small, third = SampleCluster(), small_cluster(), small_cluster()
    for cluster in (small, third):
        cluster.customer_id = cluster.cluster["customer_id"] = big.customer_id
    for cluster in (big, small, third):
        await cluster.register(client)
    big_total, small_total = (await quote(client, big))["total"], (await quote(client, small))["total"]
    await credit(client, big.customer_id, small_total)  # covers the small order, not the big one

    first = await press(client, big)
    await client.wait_for("payment.awaiting_funds", of(first["request_id"]))
    second = await press(client, small)
    waiting = (await client.wait_for("payment.awaiting_funds", of(second["request_id"]))).data
    seen_then = await quote(client, third)

    # The small order waits although the balance covers it: the big one came first. What would
    # let it through is its own total plus the big one's, less the balance: the big one's total.
    assert waiting["shortfall"] == big_total
    # A quote meanwhile: what the waiting orders will take first is not the customer's to spend.
    assert (seen_then["wallet_balance"], seen_then["wallet_reserved"]) == (small_total, big_total + small_total)
    assert seen_then["wallet_covers"] is False
    assert not client.seen("payment.settled")

    await credit(client, big.customer_id, big_total)
    ends = [await outcome(client, request) for request in (first, second)]
    assert [e.routing_key for e in ends] == ["cluster.poc_stopped", "cluster.poc_stopped"]
    settled = [e.data["request_id"] for e in client.seen("payment.settled")]
    assert settled == [first["request_id"], second["request_id"]]
    debits = await database.fetch(
        "SELECT amount FROM payment.ledger WHERE customer_id = $1 AND kind = 'debit' ORDER BY entry_id",
        big.customer_id,
    )
    assert [-d["amount"] for d in debits] == [big_total, small_total]
    assert await balance(database, big.customer_id) == 0
