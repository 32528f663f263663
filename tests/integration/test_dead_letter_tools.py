"""Operators' dead-letter tools against whatever bytes a queue can hold: ``stoppoc dlq list``,
``show``, ``replay`` and ``purge`` and ``stoppoc status``, run as an operator runs them (the CLI
in a subprocess) while payment runs and dead-letters the poison itself."""

import contextlib
import sys

import pytest

from stoppoc.contract.envelope import new_envelope
from stoppoc.shared.dead_letters import DeadLetterReason, dead_letter_headers
from tests.cli import stoppoc
from tests.contract_data import unique_id, wait_until
from tests.faults.probes import depth, queued_ids, take_without_ack
from tests.infrastructure import running

pytestmark = pytest.mark.integration

DEEP = b"[" * 100_000 + b"]" * 100_000
POISON = {
    "not-json": b"{not json",
    "not-utf8": b"\xff\xfe\x00\x01 binary",
    "nested-deep": DEEP,
    "megabytes": b'{"type": "stoppoc.payment.wallet.credit.v1", "data": "' + b"x" * 3_000_000 + b'"}',
}


async def test_every_dead_letter_command_reads_any_body_and_handles_the_rest_of_the_queue(
    settings, client, names, database
):
    customer = unique_id("customer")
    credit = {"customer_id": customer, "amount": 70_000, "reference": unique_id("topup")}
    stranded = await client.send("payment.wallet.credit", credit)
    await take_without_ack(settings.amqp_url, names.queue("payment"))  # its consumer died: redelivered
    for message_id, body in POISON.items():
        await client.publish(names.commands, "payment.wallet.credit", body, message_id=message_id)
    dlq = names.dead_letter_queue("payment")
    async with running(settings.model_copy(update={"max_deliveries": 1}), "payment"):
        await wait_until(lambda: has(settings, dlq, 5), what="the poison and the stranded credit dead-lettered")

        overview = await stoppoc(settings, "dlq", "list", "--json")
        listed = await stoppoc(settings, "dlq", "list", "payment", "--json")
        table = await stoppoc(settings, "dlq", "list", "payment")
        shown = {mid: await stoppoc(settings, "dlq", "show", "payment", mid, "--json") for mid in POISON}
        shown_table = await stoppoc(settings, "dlq", "show", "payment", "nested-deep")
        dry_run = await stoppoc(settings, "dlq", "replay", "payment", "--reason", "redelivery_limit", "--dry-run")
        untouched = await depth(settings.amqp_url, dlq)
        replayed = await stoppoc(settings, "dlq", "replay", "payment", "--reason", "redelivery_limit")
        credited = await client.wait_for("wallet.credited", lambda d: d["reference"] == credit["reference"])
        declined = await stoppoc(settings, "dlq", "purge", "payment", "--all")  # asks; nobody answers
        purged = await stoppoc(settings, "dlq", "purge", "payment", "--id", "nested-deep", "--id", "megabytes", "--yes")
        left = await stoppoc(settings, "dlq", "list", "payment", "--json")
        status = await stoppoc(settings, "status", "--json")

    payment_queue = next(row for row in overview.json() if row["queue"] == dlq)
    assert overview.code == 0 and payment_queue["messages"] == 5
    assert payment_queue["by_reason"] == {"invalid_envelope": 3, "message_too_large": 1, "redelivery_limit": 1}
    assert payment_queue["oldest_seconds"] >= 0

    rows = {row["id"]: row for row in listed.json()}
    assert listed.code == 0 and set(rows) == {*POISON, stranded.id}
    assert rows[stranded.id]["type"] == "stoppoc.payment.wallet.credit.v1" and rows[stranded.id]["body"]["readable"]
    problems = {mid: rows[mid]["body"]["problem"] for mid in POISON}
    assert problems == {
        "not-json": "not JSON",
        "not-utf8": "not UTF-8",
        "nested-deep": "JSON nested too deep",
        "megabytes": "larger than 1,048,576 bytes",
    }
    assert rows["nested-deep"]["body"]["size"] == len(DEEP) and rows["nested-deep"]["body"]["prefix"].startswith("[[[[")
    assert table.code == 0 and "unreadable" in table.out and "redelivery_limit" in table.out

    for message_id, ran in shown.items():
        assert ran.code == 0, ran.err
        # A body over STOPPOC_MAX_MESSAGE_BYTES is dead-lettered unread, before anyone parses it.
        reason = "message_too_large" if message_id == "megabytes" else "invalid_envelope"
        assert ran.json()["body"]["json"] is None and ran.json()["error"] == reason, message_id
    assert shown_table.code == 0 and "unreadable (JSON nested too deep), 200,000 bytes" in shown_table.out

    assert dry_run.code == 0 and f"would replay {stranded.id}" in dry_run.out and untouched == 5
    assert replayed.code == 0 and "1 replayed" in replayed.out, replayed.out + replayed.err
    assert credited.data["balance_after"] == 70_000

    assert declined.code == 1 and "Remove 4 dead letters" in declined.out
    listed_first = declined.out.split("Remove")[0].splitlines()  # what it would remove, before asking
    assert sorted(line.split()[0] for line in listed_first) == sorted(POISON)
    assert all(line.endswith(rows[line.split()[0]]["error"]) for line in listed_first)
    assert purged.code == 0 and "2 purged" in purged.out
    assert sorted(row["id"] for row in left.json()) == ["not-json", "not-utf8"]

    assert status.code == 1  # dead letters wait, and only payment runs
    queues = {row["queue"]: row for row in status.json()["queues"]}
    assert queues[names.queue("payment")]["consumers"] == 1 and queues[dlq]["messages"] == 2
    assert status.json()["dead_letters"] == 2
    assert any(dlq in need for need in status.json()["attention"])
    assert {o["service"] for o in status.json()["outboxes"]} == {"inventory", "checkout", "payment", "notifier"}


async def test_dead_letter_commands_say_what_they_could_not_find_and_need_a_choice(settings, client):
    await client.send("payment.wallet.credit", {"customer_id": "c", "amount": 1, "reference": "r"})  # declares it all

    missing_show = await stoppoc(settings, "dlq", "show", "payment", "no-such-id")
    missing_purge = await stoppoc(settings, "dlq", "purge", "payment", "--id", "no-such-id", "--yes")
    both = await stoppoc(settings, "dlq", "purge", "payment", "--id", "x", "--all")
    neither = await stoppoc(settings, "dlq", "replay", "payment")
    elsewhere = await stoppoc(settings.model_copy(update={"namespace": unique_id("nowhere")}), "dlq", "list", "payment")

    assert missing_show.code == 1 and "no-such-id" in missing_show.err
    assert missing_purge.code == 1 and "no-such-id" in missing_purge.err
    assert both.code == 2 and neither.code == 2 and "--reason" in neither.err
    assert elsewhere.code == 1 and "STOPPOC_NAMESPACE" in elsewhere.err


# As deep as one content-header frame holds (frame_max 131,072 bytes; 6 bytes a level).
FRAME_DEEP = 21_000


def nested_table(levels: int) -> dict:
    table: dict = {}
    for _ in range(levels):
        table = {"": table}
    return table


@contextlib.contextmanager
def recursion_room():
    """pamqp encodes a table by recursion: this test's publisher needs the room, the services do not."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(4 * FRAME_DEEP)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def dead_letter_of(names, service: str, routing_key: str, **overrides) -> dict:
    reason = DeadLetterReason("handler_error", "it failed", 3)
    return {**dead_letter_headers(service, reason, names.commands, routing_key), **overrides}


def credit_envelope(reference: str) -> bytes:
    data = {"customer_id": unique_id("customer"), "amount": 10_000, "reference": reference}
    return new_envelope("payment.wallet.credit", data, source="/tests/portal", message_id=reference).to_json()


async def test_headers_nested_as_deep_as_a_frame_holds_are_dead_lettered_at_once_and_read_by_every_command(
    settings, client, names
):
    dlq = names.dead_letter_queue("payment")
    credit = {"customer_id": unique_id("customer"), "amount": 50_000, "reference": unique_id("topup")}
    async with running(settings, "payment"):
        with recursion_room():
            await client.publish(
                names.commands,
                "payment.wallet.credit",
                b"{}",
                message_id="deep",
                headers={"x-deep": nested_table(FRAME_DEEP)},
            )
            # As a rogue service could put it there: the dead-letter queue holds it as it came. Ten
            # times deeper than pamqp could read; not frame-deep, which the broker takes ~2 s to hand
            # out on every look (tests/unit/test_amqp_tables.py reads a frame-deep one).
            deep_letter = dead_letter_of(names, "payment", "payment.wallet.credit", **{"x-deep": nested_table(3_000)})
            await client.publish(
                names.dlx,
                names.queue("payment"),
                credit_envelope("deep-letter"),
                message_id="deep-letter",
                headers=deep_letter,
            )
        await client.publish(
            names.dlx,
            names.queue("payment"),
            b"{not json",
            message_id="not-json",
            headers=dead_letter_of(names, "payment", "payment.wallet.credit"),
        )
        await client.send("payment.wallet.credit", credit)  # after the deep one: payment still consumes
        await client.wait_for("wallet.credited", lambda d: d["reference"] == credit["reference"])
        # Long before the broker's own delivery limit would (redelivered on each reconnect).
        await wait_until(lambda: has(settings, dlq, 3), timeout=5, what="the deep headers dead-lettered at once")

        listed = await stoppoc(settings, "dlq", "list", "payment", "--json")
        shown = await stoppoc(settings, "dlq", "show", "payment", "deep-letter", "--json")
        replayed = await stoppoc(settings, "dlq", "replay", "payment", "--id", "deep-letter")
        await client.wait_for("wallet.credited", lambda d: d["reference"] == "deep-letter")
        purged = await stoppoc(settings, "dlq", "purge", "payment", "--id", "deep", "--yes")
        left = await queued_ids(settings.amqp_url, dlq)

    rows = {row["id"]: row for row in listed.json()}
    assert listed.code == 0 and set(rows) == {"deep", "deep-letter", "not-json"}, listed.err[-2000:]
    assert rows["deep"]["error"] == "unreadable_headers" and "x-deep" in rows["deep"]["detail"]
    deepest = shown.json()["headers"]["x-deep"]
    while isinstance(deepest, dict):
        deepest = deepest[""]
    assert shown.code == 0 and deepest.startswith("unreadable (nested deeper than 64), ")
    assert replayed.code == 0 and "1 replayed" in replayed.out, replayed.out + replayed.err
    assert purged.code == 0 and "1 purged" in purged.out
    assert left == {"not-json"}


async def test_replay_refuses_dead_letters_their_queue_service_does_not_consume(settings, client, names):
    letters = {
        "genuine": dead_letter_of(names, "payment", "payment.wallet.credit"),
        "other-key": dead_letter_of(names, "payment", "inventory.stop_poc.request"),
        "other-service": dead_letter_of(names, "payment", "payment.wallet.credit", **{"x-stoppoc-service": "checkout"}),
    }
    for message_id, headers in letters.items():
        await client.publish(
            names.dlx, names.queue("payment"), credit_envelope(message_id), message_id=message_id, headers=headers
        )

    replayed = await stoppoc(settings, "dlq", "replay", "payment", "--all")

    assert replayed.code == 1 and "1 replayed" in replayed.out and "2 refused" in replayed.err
    assert "refused other-key: payment does not consume 'inventory.stop_poc.request'" in replayed.out
    assert "refused other-service: x-stoppoc-service is 'checkout'" in replayed.out
    assert await queued_ids(settings.amqp_url, names.dead_letter_queue("payment")) == {"other-key", "other-service"}
    assert await queued_ids(settings.amqp_url, names.queue("payment")) == {"genuine"}


async def test_a_broker_that_refuses_the_virtual_host_is_unreachable_in_one_line(settings):
    refused = settings.model_copy(update={"amqp_url": settings.amqp_url.rstrip("/") + "/no-such-vhost"})
    # The two ways the CLI connects: its own (dlq, status, settlements) and the portal client's.
    for command in (("dlq", "list"), ("quote", "--customer", "c", "--cluster", "k", "--cycle", "3")):
        ran = await stoppoc(refused, *command)
        assert ran.code == 3, (command, ran.err)
        assert ran.err.startswith("stoppoc: cannot reach RabbitMQ at ") and len(ran.err.splitlines()) == 1, ran.err


async def has(settings, queue_name: str, count: int) -> bool:
    return await depth(settings.amqp_url, queue_name) == count


async def test_a_letter_the_broker_dead_lettered_itself_is_read_and_replayed_from_its_x_death(settings, client, names):
    # A service that dies on the very delivery each time: the quorum queue's own delivery limit
    # dead-letters it, through NS.dlx, with x-death and none of the services' x-stoppoc headers.
    sent = await client.send("payment.wallet.credit", {"customer_id": "c", "amount": 1, "reference": unique_id("r")})
    dlq = names.dead_letter_queue("payment")
    for _ in range(settings.max_deliveries + 1):
        await take_without_ack(settings.amqp_url, names.queue("payment"))
    await wait_until(lambda: has(settings, dlq, 1), what="the broker's dead letter")

    listed = await stoppoc(settings, "dlq", "list", "payment", "--json")
    replayed = await stoppoc(settings, "dlq", "replay", "payment", "--id", sent.id)

    [row] = listed.json()
    assert row["error"] == "delivery_limit" and row["original-routing-key"] == "payment.wallet.credit"
    assert row["queue"] == names.queue("payment") and row["age_seconds"] is not None
    assert replayed.code == 0 and "1 replayed" in replayed.out, replayed.out + replayed.err
    assert await queued_ids(settings.amqp_url, names.queue("payment")) == {sent.id}
    assert await depth(settings.amqp_url, dlq) == 0
