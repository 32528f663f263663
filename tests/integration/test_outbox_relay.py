"""The outbox relay publishes a batch at once: every row reaches the broker in the order of the
rows, and each row the broker confirmed is stamped published."""

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker

from stoppoc.shared import db
from stoppoc.shared.outbox import OutboxRelay
from tests.contract_data import unique_id

pytestmark = pytest.mark.integration

ROWS = 60


async def test_a_batch_is_published_in_the_order_of_its_rows_and_stamped(settings, names, database):
    routing_key = f"relay.order.{unique_id('test')}"
    ids = [unique_id("message") for _ in range(ROWS)]
    for message_id in ids:
        await database.execute(
            "INSERT INTO payment.outbox (message_id, exchange, routing_key, body) VALUES ($1, 'events', $2, $3)",
            message_id,
            routing_key,
            message_id.encode(),
        )
    connection = await aio_pika.connect(settings.amqp_url)
    broker = RabbitBroker(settings.amqp_url)
    pool = await db.create_pool(settings.database_url, "payment", min_size=1, max_size=2)
    try:
        channel = await connection.channel()
        events = await channel.declare_exchange(names.events, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(events, routing_key)
        await broker.connect()
        relay = OutboxRelay(pool, broker, names, 1.0, "payment")
        published = 0
        while (batch := await relay.publish_batch()) > 0:
            published += batch
        received = []
        async with queue.iterator(timeout=10) as messages:
            async for message in messages:
                await message.ack()
                received.append(message.message_id)
                if len(received) == ROWS:
                    break
    finally:
        await broker.stop()
        await pool.close()
        await connection.close()

    assert published == ROWS
    assert received == ids
    unstamped = await database.fetchval(
        "SELECT count(*) FROM payment.outbox WHERE message_id = any($1::text[]) AND published_at IS NULL", ids
    )
    assert unstamped == 0
