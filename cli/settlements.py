"""``stoppoc settlements``: the analysts' feed (``tail``, a queue of their own) and export (from
payment's ledger, one row per line item; refunds as rows of their own with negative totals)."""

import asyncio
import contextlib
import csv
import json
import signal
import sys
from datetime import datetime
from typing import Any

import aio_pika
import click
from aio_pika.abc import AbstractIncomingMessage
from aiormq.exceptions import AMQPError

from stoppoc.cli.database import fail, read, run_async
from stoppoc.cli.dead_letter_queues import connected
from stoppoc.cli.letters import read_body
from stoppoc.cli.timing import check_window, window_options
from stoppoc.contract.envelope import Envelope
from stoppoc.services.payment.domain import REFUND_PREFIX
from stoppoc.services.payment.queries import QUERIES as PAYMENT
from stoppoc.services.payment.queries import SettlementLine
from stoppoc.shared.queries import BoundQueries
from stoppoc.shared.settings import get_settings
from stoppoc.shared.topology import Names

# What the feed carries: each settlement, and each refund (a wallet credit with a refund reference).
FEED_EVENTS = ("payment.settled", "wallet.credited")
EXPORT_COLUMNS = [
    "payment_id",
    "order_id",
    "kind",
    "customer_id",
    "cluster_id",
    "resource_id",
    "amount",
    "cycle_discount",
    "coupon_discount",
    "tax",
    "total",
    "settled_at",
    "resource_kind",
]


@click.group()
def settlements() -> None:
    """Settlements and refunds for billing analysts: a live feed and an export."""


def feed_queue_name(names: Names, name: str) -> str:
    """Every queue of an environment starts with its namespace; a NAME without it gets it."""
    return name if name.startswith(f"{names.namespace}.") else f"{names.namespace}.{name}"


def is_in_feed(envelope: Envelope) -> bool:
    if envelope.routing_key == "payment.settled":
        return True
    reference = envelope.data.get("reference")
    return (
        envelope.routing_key == "wallet.credited" and isinstance(reference, str) and reference.startswith(REFUND_PREFIX)
    )


@settlements.command("tail")
@click.option("--queue", "queue_name", required=True, help="Your queue's name (prefixed with the namespace).")
@click.option("--from-now", is_flag=True, help="Drop what waits in the queue already; print only what comes next.")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after this many events (default: run until ^C).")
def tail(queue_name: str, from_now: bool, limit: int | None) -> None:
    """Print each settlement (payment.settled) and refund (wallet.credited with a refund:
    reference) as one JSON line: the CloudEvent as published.

    Declares a durable queue of your own bound to those events, so that nothing is missed while
    this command is not running: the next run prints what arrived meanwhile. An event is taken off
    the queue only once it is printed; one printed twice (a crash in between) has the same id.
    """
    settings = get_settings()
    names = Names(settings.namespace)
    try:
        run_async(_tail(settings.amqp_url, names, feed_queue_name(names, queue_name), from_now, limit))
    except AMQPError as error:  # the broker refused the queue: a name it will not take, other arguments
        fail(f"cannot tail {feed_queue_name(names, queue_name)}: {error}")


async def _tail(amqp_url: str, names: Names, queue_name: str, from_now: bool, limit: int | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    printed = 0
    async with connected(amqp_url) as connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=100)
        events = await channel.declare_exchange(names.events, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(queue_name, durable=True)
        for routing_key in FEED_EVENTS:
            await queue.bind(events, routing_key=routing_key)
        if from_now:
            await queue.purge()
        click.echo(f"tailing {queue_name}", err=True)

        async def on_message(message: AbstractIncomingMessage) -> None:
            nonlocal printed
            if stop.is_set() or (limit is not None and printed >= limit):
                await message.nack(requeue=True)  # past the limit: left for the next run
                return
            try:
                envelope = Envelope.parse(message.body)
            except Exception:
                click.echo(f"skipped an unreadable event: {read_body(message.body).describe()}", err=True)
                await message.ack()
                return
            if is_in_feed(envelope):
                sys.stdout.write(json.dumps(envelope.model_dump(mode="json", exclude_none=True)) + "\n")
                sys.stdout.flush()
                printed += 1
            if limit is not None and printed >= limit:
                stop.set()
            await message.ack()

        tag = await queue.consume(on_message)
        await stop.wait()
        with contextlib.suppress(Exception):
            await queue.cancel(tag)


@settlements.command("export")
@window_options
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
def export(since: datetime, until: datetime, fmt: str) -> None:
    """Every line item settled in [--since, --until), one row each, from payment's ledger, and each
    refund credited in it as a row of its own with negative figures."""
    check_window(since, until)

    async def query(payment: BoundQueries) -> list[SettlementLine]:
        found: list[SettlementLine] = await payment.settlement_lines(since=since, until=until)
        return found

    rows = [export_row(line) for line in read(query, payment=PAYMENT)]
    if fmt == "jsonl":
        for row in rows:
            click.echo(json.dumps(row))
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def export_row(line: SettlementLine) -> dict[str, Any]:
    row = {column: getattr(line, column) for column in EXPORT_COLUMNS}
    row["settled_at"] = line.settled_at.isoformat()
    return row
