"""``stoppoc dlq``: what each service's dead-letter queue holds, and replaying it.

For operators replaying dead-lettered conversions: ``list`` reads ``NS.SERVICE.dlq`` without
consuming it for good (every message read is handed back when the channel closes), and
``replay`` publishes messages again to the exchange and routing key they were first published
to, with publisher confirms, and only then removes them from the dead-letter queue. A replay
of a message that was handled already changes nothing: the services' inboxes drop it.
"""

import json
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import aio_pika
import click
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aiormq.exceptions import ChannelNotFoundEntity

from stoppoc.cli.database import fail, run_async
from stoppoc.cli.output import json_option, show
from stoppoc.contract.envelope import utc_now
from stoppoc.contract.errors import unreachable
from stoppoc.services.registry import SERVICES
from stoppoc.shared.dead_letters import REPLAYED_AT, verdict, without_verdict
from stoppoc.shared.retention import replay_horizon, sent_before
from stoppoc.shared.settings import get_settings
from stoppoc.shared.topology import Names

T = TypeVar("T")


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    type: str | None
    headers: dict[str, Any]  # the x-stoppoc-* headers, without their prefix
    body: bytes

    @classmethod
    def of(cls, message: AbstractIncomingMessage) -> "DeadLetter":
        headers = {key: _plain(value) for key, value in verdict(dict(message.headers or {})).items()}
        return cls(message.message_id, _type_of(message.body), headers, message.body)

    def row(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "type": self.type,
            **self.headers,
            "body": self.body.decode(errors="replace"),
        }


def _plain(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _type_of(body: bytes) -> str | None:
    try:
        envelope = json.loads(body)
    except ValueError:
        return None
    return envelope.get("type") if isinstance(envelope, dict) else None


async def _connect(amqp_url: str) -> aio_pika.abc.AbstractConnection:
    try:
        return await aio_pika.connect(amqp_url)
    except OSError as error:
        raise unreachable("RabbitMQ", amqp_url, error) from error


async def _dead_letter_queue(channel: AbstractChannel, names: Names, service: str) -> AbstractQueue:
    name = names.dead_letter_queue(service)
    try:
        return await channel.declare_queue(name, passive=True)
    except ChannelNotFoundEntity as error:
        raise LookupError(f"there is no queue {name} (is STOPPOC_NAMESPACE right?)") from error


async def _present(queue: AbstractQueue) -> AsyncIterator[AbstractIncomingMessage]:
    """The messages in the queue when this began, unacknowledged: a message dead-lettered
    again meanwhile (a replayed one that still fails) joins the back and is not taken twice."""
    for _ in range(queue.declaration_result.message_count or 0):
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            return
        yield message


async def peek(amqp_url: str, names: Names, service: str) -> list[DeadLetter]:
    """Every message in the service's dead-letter queue, left where it is."""
    connection = await _connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await _dead_letter_queue(channel, names, service)
        # Unacknowledged gets are not delivered twice on one channel; closing it hands them back.
        return [DeadLetter.of(message) async for message in _present(queue)]


async def replay(amqp_url: str, names: Names, service: str, message_ids: set[str] | None) -> list[DeadLetter]:
    """Publish again the dead letters with these ids (all with None) and remove them from the
    dead-letter queue once the broker confirmed them. Those replayed."""
    connection = await _connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        queue = await _dead_letter_queue(channel, names, service)
        replayed = []
        async for message in _present(queue):
            letter = DeadLetter.of(message)
            if message_ids is not None and letter.message_id not in message_ids:
                continue  # handed back when the channel closes
            await _publish_again(channel, message, letter)
            await message.ack()
            replayed.append(letter)
    return replayed


async def _publish_again(channel: AbstractChannel, message: AbstractIncomingMessage, letter: DeadLetter) -> None:
    exchange_name = letter.headers.get("original-exchange") or ""
    exchange = await channel.get_exchange(exchange_name) if exchange_name else channel.default_exchange
    # The old verdict goes; the replay is stamped, which gives it a fresh redelivery count.
    headers = without_verdict(dict(message.headers or {}))
    headers[REPLAYED_AT] = utc_now().isoformat()
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
        routing_key=letter.headers.get("original-routing-key") or "",
        mandatory=True,  # a message no queue takes is returned (and raises), never dropped
    )


@click.group()
def dlq() -> None:
    """Dead-lettered messages of a service: list them, replay them once their cause is fixed."""


service_argument = click.argument("service", type=click.Choice(SERVICES))
LIST_COLUMNS = ["message_id", "type", "error", "attempts", "failed-at", "original-routing-key", "detail"]


@dlq.command("list")
@service_argument
@json_option
def list_dead_letters(service: str, as_json: bool) -> None:
    """The messages in NS.SERVICE.dlq with why they are there; they stay in the queue."""
    settings = get_settings()
    letters = _run(peek(settings.amqp_url, Names(settings.namespace), service))
    rows = [letter.row() for letter in letters]
    if not as_json:
        rows = [{k: v for k, v in row.items() if k != "body"} for row in rows]
    show(rows, LIST_COLUMNS, as_json=as_json, title=f"{settings.namespace}.{service}.dlq: {len(rows)} dead letters")


@dlq.command("replay")
@service_argument
@click.option("--id", "message_ids", multiple=True, help="The message id to replay (repeatable).")
@click.option("--all", "replay_all", is_flag=True, help="Replay every message in the dead-letter queue.")
def replay_dead_letters(service: str, message_ids: tuple[str, ...], replay_all: bool) -> None:
    """Publish dead letters again to their original exchange and routing key, then remove them."""
    if bool(message_ids) == replay_all:
        raise click.UsageError("give --id MESSAGE_ID (one or more) or --all")
    settings = get_settings()
    wanted = None if replay_all else set(message_ids)
    # The services that handled a message older than this may have pruned its inbox row.
    horizon = replay_horizon(settings, utc_now())
    present = _run(peek(settings.amqp_url, Names(settings.namespace), service))
    too_old = {
        d.message_id
        for d in present
        if d.message_id and (wanted is None or d.message_id in wanted) and sent_before(d.body, horizon)
    }
    if too_old:
        wanted = (wanted if wanted is not None else {d.message_id for d in present if d.message_id}) - too_old
    replayed = _run(replay(settings.amqp_url, Names(settings.namespace), service, wanted))
    for letter in replayed:
        click.echo(f"replayed {letter.message_id} ({letter.type}) to {letter.headers.get('original-routing-key')}")
    missing = sorted((wanted or set()) - {letter.message_id for letter in replayed})
    if missing:
        fail(f"not in {settings.namespace}.{service}.dlq: {', '.join(missing)}")
    click.echo(f"{len(replayed)} replayed")
    if too_old:
        fail(
            f"not replayed, sent before {horizon.isoformat()} (STOPPOC_INBOX_RETENTION_DAYS less a day): the "
            f"services may have forgotten handling them; they stay in the queue: {', '.join(sorted(too_old))}"
        )


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return run_async(coro)
    except LookupError as error:
        fail(str(error))
