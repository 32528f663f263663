"""What the reliability tests do and read around the services: broker queues looked at without
taking anything away, a delivery abandoned as a dying consumer would, the ``stoppoc`` command
as an operator runs it, wallets funded and read back."""

import asyncio
import os
import sys

import aio_pika
import asyncpg

from tests.contract_data import unique_id

SCHEMAS = ("inventory", "checkout", "payment", "notifier")


async def _queue(channel, name: str) -> aio_pika.abc.AbstractQueue:
    return await channel.declare_queue(name, passive=True)


async def depth(amqp_url: str, queue_name: str) -> int:
    """Messages ready in a queue."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        return (await _queue(await connection.channel(), queue_name)).declaration_result.message_count


async def queued_ids(amqp_url: str, queue_name: str) -> set[str]:
    """The ids of the messages waiting in a queue, left there."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        queue = await _queue(await connection.channel(), queue_name)
        ids = set()
        for _ in range(queue.declaration_result.message_count):
            if (message := await queue.get(no_ack=False, fail=False)) is None:
                break
            ids.add(message.message_id)
        return ids  # closing the channel hands every message back


async def dead_letters(amqp_url: str, names, service: str, count: int = 1, timeout: float = 10.0) -> list:
    """Take ``count`` messages off a service's dead-letter queue, waiting up to ``timeout`` for each."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        queue = await _queue(await connection.channel(), names.dead_letter_queue(service))
        return [await queue.get(timeout=timeout) for _ in range(count)]


async def take_without_ack(amqp_url: str, queue_name: str) -> str:
    """Take the first message of the queue and drop the connection holding it, as a consumer
    that dies mid-handling would: the broker puts it back, marked redelivered. Its id."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        message = await (await _queue(await connection.channel(), queue_name)).get(no_ack=False, timeout=5)
        return message.message_id


async def lock_wallet(database_url: str, customer_id: str) -> asyncpg.Connection:
    """A transaction of the test's own holding a wallet row: payment's handlers for that
    customer block on it until the test rolls it back."""
    holder = await asyncpg.connect(database_url)
    await holder.execute("BEGIN")
    await holder.execute("SELECT 1 FROM payment.wallets WHERE customer_id = $1 FOR UPDATE", customer_id)
    return holder


async def waiting_on_locks(database, service: str, since=None) -> int:
    """The service's backends waiting on a lock (a killed instance's keep waiting until the server
    notices, within seconds); ``since``: only those of connections opened after that moment."""
    return await database.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = $1 AND wait_event_type = 'Lock'"
        " AND backend_start > coalesce($2::timestamptz, '-infinity')",
        f"stoppoc-{service}",
        since,
    )


async def all_stamped(database) -> bool:
    """Every outbox row stamped published (an event may arrive before the stamp of its batch)."""
    pending = [await database.fetchval(f"SELECT count(*) FROM {s}.outbox WHERE published_at IS NULL") for s in SCHEMAS]
    return not any(pending)


async def stoppoc(settings, *args: str) -> tuple[int, str]:
    """``stoppoc ARGS`` in a subprocess: its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stoppoc.cli",
        *args,
        env={**os.environ, "STOPPOC_AMQP_URL": settings.amqp_url, "STOPPOC_NAMESPACE": settings.namespace},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode, out.decode()


async def fund(client, customer_id: str, amount: int) -> str:
    """Credit a wallet and wait until it is credited; the credit's reference."""
    reference = unique_id("topup")
    await client.send("payment.wallet.credit", {"customer_id": customer_id, "amount": amount, "reference": reference})
    await client.wait_for("wallet.credited", lambda d: d["reference"] == reference)
    return reference


async def balance_and_ledger(database, customer_id: str) -> tuple[int, int]:
    balance = await database.fetchval("SELECT balance FROM payment.wallets WHERE customer_id = $1", customer_id)
    ledger = await database.fetchval("SELECT sum(amount) FROM payment.ledger WHERE customer_id = $1", customer_id)
    return balance, ledger
