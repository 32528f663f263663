"""Input limits against a real RabbitMQ and PostgreSQL: what is over a limit is refused with its
reason and changes nothing, and the service goes on."""

import json

import pytest

from stoppoc.contract.base import MAX_ID_LENGTH, MAX_RESOURCE_IDS
from stoppoc.contract.envelope import type_for, utc_now
from tests.contract_data import SampleCluster
from tests.faults.probes import dead_letters
from tests.infrastructure import running

pytestmark = pytest.mark.integration


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
        refund = {"customer_id": "cus-1", "amount": 5 * ceiling, "reference": "refund:pay-1:srv-1"}
        await client.send("payment.wallet.credit", refund)
        credited = await client.wait_for("wallet.credited")

    assert rejected.data == {
        "customer_id": "cus-1",
        "amount": ceiling + 1,
        "reference": "t-1",
        "reason": "amount_over_ceiling",
        "detail": f"a credit of {ceiling + 1} VND is above the ceiling of {ceiling} VND (STOPPOC_MAX_CREDIT)",
    }
    assert credited.data["reference"] == "refund:pay-1:srv-1" and credited.data["balance_after"] == 5 * ceiling
    assert await database.fetchval("SELECT array_agg(reference) FROM payment.ledger") == ["refund:pay-1:srv-1"]


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
