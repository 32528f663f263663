"""A unit of work writes what its handler emitted to the outbox in one statement at its flush:
in the order emitted, each message once, and not a message whose deterministic id is there already."""

import pytest

from stoppoc.contract.events import ClusterRegistered
from stoppoc.services.inventory.queries import QUERIES as INVENTORY
from stoppoc.shared import db
from stoppoc.shared.unit_of_work import UnitOfWork
from tests.contract_data import unique_id

pytestmark = pytest.mark.integration


def registered(cluster_id: str) -> ClusterRegistered:
    return ClusterRegistered(cluster_id=cluster_id, customer_id="c-1", poc=True)


async def test_emitted_messages_reach_the_outbox_at_the_flush_in_order_and_once(settings, database):
    first, second, again = unique_id("cluster"), unique_id("cluster"), unique_id("message")
    await database.execute(
        "INSERT INTO inventory.outbox (message_id, exchange, routing_key, body) VALUES ($1, 'events', 'k', '\\x7b7d')",
        again,
    )
    conn = await db.connect(settings.database_url, "inventory")
    try:
        async with conn.transaction():
            uow = UnitOfWork(conn, INVENTORY.bind(conn), "/tests", settings)
            one = await uow.emit(registered(first))
            two = await uow.emit(registered(second), message_id=f"{second}-fixed")
            await uow.emit(registered(second), message_id=f"{second}-fixed")  # the same message again
            await uow.emit(registered(first), message_id=again)  # recorded by an earlier transaction
            assert await conn.fetchval("SELECT count(*) FROM inventory.outbox WHERE message_id = $1", one.id) == 0
            flushed = await uow.flush()
            assert await uow.flush() == []  # nothing new since
    finally:
        await conn.close()

    assert [e.id for e in flushed] == [one.id, two.id] == [e.id for e in uow.emitted]
    rows = await database.fetch(
        "SELECT message_id, exchange, routing_key FROM inventory.outbox WHERE message_id = any($1::text[]) ORDER BY id",
        [one.id, two.id],
    )
    assert [(r["message_id"], r["exchange"], r["routing_key"]) for r in rows] == [
        (one.id, "events", "cluster.registered"),
        (two.id, "events", "cluster.registered"),
    ]
