"""The services' dead-letter queues at the broker: read without taking, replayed, purged.

Reading takes the messages present when it starts with unacknowledged gets and hands every one
back when its channel closes (they stay in the queue, in order). Replaying and purging take the
messages present when they start, act on those chosen and hand the others back: a message
dead-lettered again meanwhile (a replayed one that still fails) joins the back of the queue and
is not taken twice. Queues are looked at with passive declares: nothing is created.
"""

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue
from aiormq.exceptions import ChannelNotFoundEntity, DeliveryError

from stoppoc.cli.letters import DeadLetter
from stoppoc.client import amqp_tables
from stoppoc.client.connecting import CANNOT_CONNECT, broker_unreachable
from stoppoc.contract.envelope import utc_now
from stoppoc.shared.dead_letters import REPLAYED_AT, without_verdict
from stoppoc.shared.topology import Names

Choose = Callable[[DeadLetter], bool]


@dataclass(frozen=True)
class QueueDepth:
    name: str
    messages: int | None  # None: there is no such queue
    consumers: int | None


@contextlib.asynccontextmanager
async def connected(amqp_url: str) -> AsyncIterator[AbstractConnection]:
    amqp_tables.install()  # a header nested too deep is read as its description, not recursed into
    try:
        connection = await aio_pika.connect(amqp_url)
    except CANNOT_CONNECT as error:
        raise broker_unreachable(amqp_url, error) from error
    async with connection:
        yield connection


async def depth(connection: AbstractConnection, queue_name: str) -> QueueDepth:
    """Messages ready and consumers of a queue, by a passive declare (no management plugin)."""
    channel = await connection.channel()  # a missing queue closes the channel: one per look
    try:
        declared = await channel.declare_queue(queue_name, passive=True)
    except ChannelNotFoundEntity:
        return QueueDepth(queue_name, None, None)
    result = declared.declaration_result
    with contextlib.suppress(Exception):
        await channel.close()
    return QueueDepth(queue_name, result.message_count, result.consumer_count)


async def _dead_letter_queue(channel: AbstractChannel, names: Names, service: str) -> AbstractQueue:
    name = names.dead_letter_queue(service)
    try:
        return await channel.declare_queue(name, passive=True)
    except ChannelNotFoundEntity as error:
        raise LookupError(f"there is no queue {name} (is STOPPOC_NAMESPACE right?)") from error


async def _present(queue: AbstractQueue) -> AsyncIterator[AbstractIncomingMessage]:
    for _ in range(queue.declaration_result.message_count or 0):
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            return
        yield message


async def peek(amqp_url: str, names: Names, service: str) -> list[DeadLetter]:
    """Every message in the service's dead-letter queue, left where it is."""
    async with connected(amqp_url) as connection:
        channel = await connection.channel()
        queue = await _dead_letter_queue(channel, names, service)
        # Unacknowledged gets are not delivered twice on one channel; closing it hands them back.
        return [DeadLetter.of(message) async for message in _present(queue)]


async def peek_all(amqp_url: str, names: Names, services: tuple[str, ...]) -> dict[str, list[DeadLetter] | None]:
    """Each service's dead letters; None for a service whose dead-letter queue does not exist."""
    found: dict[str, list[DeadLetter] | None] = {}
    for service in services:
        try:
            found[service] = await peek(amqp_url, names, service)
        except LookupError:
            found[service] = None
    return found


@dataclass(frozen=True)
class Replayed:
    letter: DeadLetter
    error: str | None = None  # why it could not be replayed (it stays in the dead-letter queue)


async def replay(amqp_url: str, names: Names, service: str, choose: Choose, *, dry_run: bool) -> list[Replayed]:
    """Publish the chosen dead letters again to where they were first published and remove each
    from the dead-letter queue once the broker confirmed it. A dry run only names them."""
    async with connected(amqp_url) as connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        queue = await _dead_letter_queue(channel, names, service)
        done = []
        async for message in _present(queue):
            letter = DeadLetter.of(message)
            if not choose(letter):
                continue  # handed back when the channel closes
            if dry_run:
                done.append(Replayed(letter))
                continue
            error = await _publish_again(channel, message, letter)
            if error is None:
                await message.ack()
            done.append(Replayed(letter, error))
    return done


async def _publish_again(channel: AbstractChannel, message: AbstractIncomingMessage, letter: DeadLetter) -> str | None:
    exchange_name = str(letter.headers.get("original-exchange") or "")
    routing_key = str(letter.headers.get("original-routing-key") or "")
    if not routing_key:
        return "no x-stoppoc-original-routing-key: nowhere to replay it to"
    exchange = await channel.get_exchange(exchange_name, ensure=False) if exchange_name else channel.default_exchange
    # The old verdict goes; the replay is stamped, which gives it a fresh redelivery count.
    headers = amqp_tables.publishable(without_verdict(dict(message.headers or {})))
    headers[REPLAYED_AT] = utc_now().isoformat()
    try:
        await exchange.publish(
            aio_pika.Message(
                message.body,
                headers=headers,
                content_type=message.content_type,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                reply_to=message.reply_to,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
            mandatory=True,  # a message no queue takes is returned, never dropped
        )
    except DeliveryError as error:
        return f"not taken by any queue at {exchange_name or '(default exchange)'} {routing_key}: {error}"
    return None


async def purge(amqp_url: str, names: Names, service: str, choose: Choose) -> list[DeadLetter]:
    """Remove the chosen dead letters for good; the others stay."""
    async with connected(amqp_url) as connection:
        channel = await connection.channel()
        queue = await _dead_letter_queue(channel, names, service)
        removed = []
        async for message in _present(queue):
            letter = DeadLetter.of(message)
            if choose(letter):
                await message.ack()
                removed.append(letter)
    return removed
