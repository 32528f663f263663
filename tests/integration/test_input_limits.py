"""Input limits against a real RabbitMQ and PostgreSQL: what is over a limit is refused with its
reason and changes nothing, and the service goes on."""

import json

import pytest

from stoppoc.contract.base import MAX_ID_LENGTH, MAX_RESOURCE_IDS
from stoppoc.contract.envelope import type_for, utc_now
from tests.contract_data import SampleCluster, publish_event
from tests.faults.probes import dead_letters
from tests.infrastructure import running
from tests.integration.test_payment import order

pytestmark = pytest.mark.integration


async def settled_order(client, customer_id: str, lines_total: int, *, top_ups=(), **overrides) -> dict:
    """Top the wallet up by each of ``top_ups``, then have payment settle an order (``test_payment.order``)."""
    for n, top_up in enumerate(top_ups):
        reference = f"top-{n}"
        await client.send(
            "payment.wallet.credit", {"customer_id": customer_id, "amount": top_up, "reference": reference}
        )
        await client.wait_for("wallet.credited", lambda d, r=reference: d["reference"] == r)
    data = {**order(customer_id, lines_total), **overrides}
    await publish_event(client, "order.created", data)
    return (await client.wait_for("payment.settled", lambda d: d["order_id"] == data["order_id"])).data


async def test_a_customer_id_of_100000_characters_is_dead_lettered_and_credits_nothing(settings, client, database):
    async with running(settings, "payment"):
        await client.send("payment.wallet.credit", {"customer_id": "c" * 100_000, "amount": 5, "reference": "big-id"})
        await client.send("payment.wallet.credit", {"customer_id": "cus-ok", "amount": 7, "reference": "after"})
        await client.wait_for("wallet.credited")  # the consumer went on
        [dead] = await dead_letters(settings.amqp_url, client.names, "payment")

    assert dead.headers["x-stoppoc-error"] == "invalid_data"
    assert dead.headers["x-stoppoc-detail"] == "customer_id: String should have at most 128 characters"
    assert [e.data["customer_id"] for e in client.seen("wallet.credited")] == ["cus-ok"]
    assert await database.fetchval("SELECT count(*) FROM payment.ledger") == 1
    assert await database.fetchval("SELECT count(*) FROM payment.wallets") == 1


async def test_an_envelope_id_of_100000_characters_is_dead_lettered_unhandled_and_credits_nothing(
    settings, client, database
):
    credit = {"customer_id": "cus-1", "amount": 5, "reference": "t-1"}
    envelope = {"specversion": "1.0", "source": "/tests/portal", "type": type_for("payment.wallet.credit")}
    envelope |= {"time": utc_now().isoformat(), "data": credit}
    async with running(settings, "payment"):
        for poison in ({"id": "m" * 100_000}, {"id": "m-2", "correlationid": "r" * 100_000}):
            body = json.dumps({**envelope, **poison}).encode()
            await client.publish(client.names.commands, "payment.wallet.credit", body, message_id="poison")
        dead = await dead_letters(settings.amqp_url, client.names, "payment", count=2)

    assert {(d.headers["x-stoppoc-error"], d.headers["x-stoppoc-detail"]) for d in dead} == {
        ("invalid_envelope", f"{attribute}: String should have at most {MAX_ID_LENGTH} characters")
        for attribute in ("id", "correlationid")
    }
    assert {d.headers["x-stoppoc-attempts"] for d in dead} == {1}
    assert await database.fetchval("SELECT count(*) FROM payment.inbox") == 0
    assert await database.fetchval("SELECT count(*) FROM payment.wallets") == 0
    assert not client.seen("wallet.credited")


async def test_a_credit_above_the_ceiling_is_rejected_with_its_reason_and_a_refund_is_not(settings, client, database):
    ceiling = 1_000_000
    async with running(settings.model_copy(update={"max_credit": ceiling}), "payment"):
        await client.send("payment.wallet.credit", {"customer_id": "cus-1", "amount": ceiling + 1, "reference": "t-1"})
        rejected = await client.wait_for("wallet.credit_rejected")
        paid = await settled_order(client, "cus-1", 2 * ceiling, top_ups=[ceiling, ceiling])
        refund = {"customer_id": "cus-1", "amount": 3 * ceiling // 2, "reference": f"refund:{paid['payment_id']}:srv-1"}
        await client.send("payment.wallet.credit", refund)
        credited = await client.wait_for("wallet.credited", lambda d: d["reference"] == refund["reference"])

    assert rejected.data == {
        "customer_id": "cus-1",
        "amount": ceiling + 1,
        "reference": "t-1",
        "reason": "amount_over_ceiling",
        "detail": f"a credit of {ceiling + 1} VND is above the ceiling of {ceiling} VND (STOPPOC_MAX_CREDIT)",
    }
    assert credited.data["balance_after"] == 3 * ceiling // 2
    assert await database.fetchval("SELECT count(*) FROM payment.ledger WHERE reference = 't-1'") == 0


async def test_a_refund_is_taken_only_within_a_settled_payment_of_the_same_customer(settings, client, database):
    async with running(settings, "payment"):
        paid = await settled_order(client, "cus-1", 2_000_000, top_ups=[2_100_000])  # srv-1 1,500,000, vol-1 500,000
        # An order charged less than its lines (as payment recorded it): its refunds stop at the charge.
        short = await settled_order(client, "cus-1", 400_000, total=100_000)  # srv-1 300,000, vol-1 100,000
        refused = {
            "refund:pay-1:srv-1": ("cus-1", 5_000_000, "refund_unknown_payment"),  # a payment nobody made
            "refund:": ("cus-1", 1, "refund_unknown_payment"),
            f"refund:{paid['payment_id']}:lb-9": ("cus-1", 1, "refund_unknown_payment"),  # no line of it
            f"refund:{paid['payment_id']}:srv-1": ("cus-2", 1, "refund_unknown_payment"),  # another's payment
            f"refund:{paid['payment_id']}:vol-1": ("cus-1", 500_001, "refund_exceeds_payment"),  # above its line
            f"refund:{short['payment_id']}:srv-1": ("cus-1", 300_000, "refund_exceeds_payment"),  # above the charge
        }
        for reference, (customer_id, amount, _) in refused.items():
            await client.send(
                "payment.wallet.credit", {"customer_id": customer_id, "amount": amount, "reference": reference}
            )
        rejections = [
            await client.wait_for("wallet.credit_rejected", lambda d, r=r: d["reference"] == r) for r in refused
        ]
        whole_line = {"customer_id": "cus-1", "amount": 500_000, "reference": f"refund:{paid['payment_id']}:vol-1"}
        await client.send("payment.wallet.credit", whole_line)
        credited = await client.wait_for("wallet.credited", lambda d: d["reference"] == whole_line["reference"])

    assert {e.data["reference"]: e.data["reason"] for e in rejections} == {r: v[2] for r, v in refused.items()}
    details = {e.data["reference"]: e.data["detail"] for e in rejections}
    assert details[f"refund:{short['payment_id']}:srv-1"] == (
        f"a refund of 300000 VND after 0 VND refunded already is more than the 100000 VND payment "
        f"{short['payment_id']} charged"
    )
    assert credited.data["balance_after"] == 2_100_000 - 2_000_000 - 100_000 + 500_000
    refunds = await database.fetch("SELECT reference, order_id FROM payment.ledger WHERE kind = 'refund'")
    assert [tuple(row) for row in refunds] == [(whole_line["reference"], paid["order_id"])]
    assert await database.fetchval("SELECT count(*) FROM payment.wallets WHERE customer_id = 'cus-2'") == 0


async def test_a_stop_request_naming_too_many_resources_is_dead_lettered_and_holds_nothing(settings, client, database):
    cluster = SampleCluster()
    async with running(settings, "inventory"):
        await cluster.register(client)
        too_many = cluster.convertible_ids + [f"ghost-{n}" for n in range(MAX_RESOURCE_IDS)]
        await client.send("inventory.stop_poc.request", cluster.stop_request(resource_ids=too_many))
        [dead] = await dead_letters(settings.amqp_url, client.names, "inventory")

    assert dead.headers["x-stoppoc-error"] == "invalid_data"
    assert dead.headers["x-stoppoc-detail"].startswith(f"resource_ids: List should have at most {MAX_RESOURCE_IDS}")
    assert await database.fetchval("SELECT count(*) FROM inventory.conversions") == 0
    assert not client.seen("stop_poc.requested")
