"""Retention of the messaging tables: what the pruning deletes, what it keeps (an inbox row a copy
of its message could still need, an outbox row not yet published), that it runs by itself in every
service, and that a replay never brings back a message the inboxes may have forgotten."""

import asyncio
import time
from datetime import timedelta

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker

from stoppoc.contract.envelope import new_envelope, utc_now
from stoppoc.services.payment.queries import QUERIES as PAYMENT
from stoppoc.shared import db
from stoppoc.shared.outbox import OutboxRelay
from stoppoc.shared.periodic import PeriodicRunner, PeriodicTask
from stoppoc.shared.retention import BATCH_SIZE, prune_messaging
from stoppoc.shared.unit_of_work import UnitOfWork
from tests.contract_data import unique_id, wait_until
from tests.faults.probes import depth, stoppoc
from tests.infrastructure import running

pytestmark = pytest.mark.integration


async def age(database, *, inbox=(), published=(), unpublished=(), redelivered=()) -> None:
    """Rows in payment's messaging tables, each (id, days ago)."""
    for message_id, days in inbox:
        await database.execute(
            "INSERT INTO payment.inbox (message_id, type, handled_at) VALUES ($1, 't', now() - $2 * interval '1 day')",
            message_id,
            days,
        )
    for message_id, days in [*published, *unpublished]:
        stamp = "now() - $2 * interval '1 day'" if (message_id, days) in published else "NULL"
        await database.execute(
            "INSERT INTO payment.outbox (message_id, exchange, routing_key, body, created_at, published_at) "
            f"VALUES ($1, 'events', 'k', '\\x7b7d', now() - $2 * interval '1 day', {stamp})",
            message_id,
            days,
        )
    for message_id, days in redelivered:
        await database.execute(
            "INSERT INTO payment.redeliveries (message_id, deliveries, first_redelivered, last_redelivered) "
            "VALUES ($1, 2, now() - $2 * interval '1 day', now() - $2 * interval '1 day')",
            message_id,
            days,
        )


async def left(database) -> dict[str, set[str]]:
    return {
        table: {row[0] for row in await database.fetch(f"SELECT message_id FROM payment.{table}")}
        for table in ("inbox", "outbox", "redeliveries")
    }


async def prune_once(settings, batch_size: int = BATCH_SIZE) -> bool:
    conn = await db.connect(settings.database_url, "payment")
    try:
        async with conn.transaction():
            return await prune_messaging(UnitOfWork(conn, PAYMENT.bind(conn), "/tests", settings), batch_size)
    finally:
        await conn.close()


async def test_rows_past_their_retention_go_and_everything_a_copy_could_need_stays(settings, database):
    settings = settings.model_copy(update={"inbox_retention_days": 30, "outbox_retention_days": 7})
    await age(
        database,
        inbox=[("handled-31-days-ago", 31), ("handled-29-days-ago", 29), ("handled-now", 0)],
        published=[("published-8-days-ago", 8), ("published-6-days-ago", 6)],
        unpublished=[("never-published-400-days-ago", 400)],
        redelivered=[("redelivered-31-days-ago", 31), ("redelivered-yesterday", 1)],
    )

    more = await prune_once(settings)

    assert more is False
    assert await left(database) == {
        "inbox": {"handled-29-days-ago", "handled-now"},
        "outbox": {"published-6-days-ago", "never-published-400-days-ago"},
        "redeliveries": {"redelivered-yesterday"},
    }


async def test_a_year_of_traffic_leaves_only_the_retention_pruned_a_batch_at_a_time(settings, database):
    # 100 messages a day for a year (one every 864 s), handled and published as they came.
    ago = "now() - (n * 864 - 432) * interval '1 second'"
    await database.execute(
        f"INSERT INTO payment.inbox (message_id, type, handled_at) "
        f"SELECT 'm' || n, 't', {ago} FROM generate_series(1, 36500) n"
    )
    await database.execute(
        f"INSERT INTO payment.outbox (message_id, exchange, routing_key, body, created_at, published_at) "
        f"SELECT 'e' || n, 'events', 'k', '\\x7b7d', {ago}, {ago} FROM generate_series(1, 36500) n"
    )
    runs = 1
    while await prune_once(settings, batch_size=5000):
        runs += 1

    for table in ("inbox", "outbox"):  # what the last 30 days brought
        assert await database.fetchval(f"SELECT count(*) FROM payment.{table}") == 3000
    assert runs == 7  # 33,500 rows a table: six full batches, then the rest


async def test_each_service_prunes_its_tables_by_itself(settings, database, client):
    await age(database, inbox=[("handled-long-ago", 45)], published=[("published-long-ago", 45)])
    quick = settings.model_copy(update={"prune_seconds": 0.2})
    async with running(quick, "payment"):
        reference = unique_id("topup")
        await client.send("payment.wallet.credit", {"customer_id": "c", "amount": 5, "reference": reference})
        await client.wait_for("wallet.credited", lambda d: d["reference"] == reference)

        async def pruned() -> bool:
            rows = await left(database)
            return "handled-long-ago" not in rows["inbox"] and "published-long-ago" not in rows["outbox"]

        await wait_until(pruned, what="the old rows pruned")
    rows = await left(database)
    assert len(rows["inbox"]) == 1 and len(rows["outbox"]) == 1  # the credit just handled, and its event


async def test_the_pruning_waits_one_interval_after_a_start_and_repeats_while_a_batch_is_full(settings, names):
    runs: list[float] = []
    batches = iter([True, True, False, False])

    async def task(uow) -> bool:
        runs.append(time.monotonic())
        return next(batches)

    interval = 1.0
    every = PeriodicTask("t", task, interval=lambda _: interval, wait_first=True)
    pool = await db.create_pool(settings.database_url, "payment", min_size=1, max_size=3)
    relay = OutboxRelay(pool, RabbitBroker(settings.amqp_url), names, 1.0, "payment")  # never started: emits nothing
    runner = PeriodicRunner([every], pool, PAYMENT, "/tests", settings, relay)
    started = time.monotonic()
    runner.start()
    try:
        await wait_until(lambda: _at_least(runs, 4), what="four runs")
    finally:
        await runner.stop()
        await pool.close()
    assert runs[0] - started >= interval  # not before one interval
    assert runs[3] - runs[2] >= interval  # after a batch that was not full, the interval again
    assert runs[2] - runs[0] < interval  # while batches were full, at once


async def _at_least(runs: list[float], n: int) -> bool:
    await asyncio.sleep(0)
    return len(runs) >= n


async def test_a_replay_leaves_dead_letters_older_than_the_inbox_retention_in_the_queue(settings, client, names):
    recent = new_envelope("payment.wallet.credit", {"customer_id": "c", "amount": 1, "reference": "r1"}, source="/t")
    old = new_envelope("payment.wallet.credit", {"customer_id": "c", "amount": 1, "reference": "r2"}, source="/t")
    old = old.model_copy(update={"time": utc_now() - timedelta(days=40)})
    for envelope in (recent, old):
        await _dead_letter(settings.amqp_url, names, envelope)

    code, out = await stoppoc(settings, "dlq", "replay", "payment", "--all")
    by_id_code, by_id_out = await stoppoc(settings, "dlq", "replay", "payment", "--id", old.id)

    assert code == 1 and "1 replayed" in out and "not replayed, sent before" in out and old.id in out, out
    assert by_id_code == 1 and "0 replayed" in by_id_out and old.id in by_id_out, by_id_out
    assert await depth(settings.amqp_url, names.dead_letter_queue("payment")) == 1  # the old one, kept
    assert await depth(settings.amqp_url, names.queue("payment")) == 1  # the recent one, replayed


async def _dead_letter(amqp_url: str, names, envelope) -> None:
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        dlx = await channel.get_exchange(names.dlx)
        headers = {
            "x-stoppoc-service": "payment",
            "x-stoppoc-error": "retries_exhausted",
            "x-stoppoc-original-exchange": names.commands,
            "x-stoppoc-original-routing-key": "payment.wallet.credit",
        }
        await dlx.publish(
            aio_pika.Message(envelope.to_json(), message_id=envelope.id, headers=headers),
            routing_key=names.queue("payment"),
        )
