"""Broker topology: the contract's exchanges, one durable queue per service with its
dead-letter queue, and the bindings that route commands and events to each service.

A dead-letter queue ``Q.dlq`` takes what queue ``Q`` dead-letters, by the routing key ``Q``, from
two exchanges: ``NS.dlx`` (direct), where the broker dead-letters (a queue's argument, so it
cannot change on an existing queue), and ``NS.dead-letters`` (topic), where the service publishes
its own dead letters, held by its topic permission to its own queue's name.

A service's bindings are derived from its handlers (``QueueBindings.of``): a handler is its
binding, so a new handler cannot be forgotten in a table somewhere. Commands are addressed to one
service by the first word of their routing key, so a service binds ``<service>.#`` on the commands
exchange (a command it has no handler for is dead-lettered as ``unknown_type``, never dropped);
on the events exchange it binds exactly the events it handles.

Queues are quorum queues by default (replicated across a cluster's nodes), with RabbitMQ's
delivery limit set to the service's own (``STOPPOC_MAX_DELIVERIES``) and at-least-once
dead-lettering, so the broker counts the same deliveries as the service and, should the service
never get to dead-letter a message itself, dead-letters it without losing it; classic queues
where ``STOPPOC_QUEUE_TYPE=classic`` (docs/reliability.md, "Quorum queues").

Declared idempotently, so any service, ``stoppoc migrate`` or a test can come up first.
"""

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aio_pika
from aio_pika.abc import AbstractChannel, ExchangeType
from aiormq.exceptions import ChannelPreconditionFailed

from stoppoc.client.connecting import CANNOT_CONNECT, broker_unreachable
from stoppoc.contract import COMMANDS, EVENTS
from stoppoc.contract.envelope import Envelope
from stoppoc.contract.errors import Misrouted, StopPocError
from stoppoc.shared.logging import get_logger


@dataclass(frozen=True)
class Names:
    namespace: str

    @property
    def commands(self) -> str:
        return f"{self.namespace}.commands"

    @property
    def events(self) -> str:
        return f"{self.namespace}.events"

    @property
    def dlx(self) -> str:
        """Where the broker itself dead-letters (a queue's ``x-dead-letter-exchange``): direct,
        and written by no user of the namespace's services."""
        return f"{self.namespace}.dlx"

    @property
    def dead_letters(self) -> str:
        """Where a service dead-letters a message itself: a topic exchange, so the broker holds
        each service's user to the routing key of its own queue (shared/broker_access.py)."""
        return f"{self.namespace}.dead-letters"

    def queue(self, service: str) -> str:
        return f"{self.namespace}.{service}"

    def dead_letter_queue(self, service: str) -> str:
        return f"{self.queue(service)}.dlq"


@dataclass(frozen=True)
class QueueBindings:
    """What one service's queue receives: routing keys on the commands and events exchanges."""

    commands: tuple[str, ...] = ()
    events: tuple[str, ...] = ()

    @classmethod
    def of(cls, service: str, routing_keys: Iterable[str]) -> "QueueBindings":
        keys = sorted(routing_keys)
        unknown = [key for key in keys if key not in COMMANDS and key not in EVENTS]
        if unknown:
            raise ValueError(f"{service} handles routing keys the contract does not define: {unknown}")
        misaddressed = [key for key in keys if key in COMMANDS and key.split(".", 1)[0] != service]
        if misaddressed:
            raise ValueError(f"{service} handles commands addressed to another service: {misaddressed}")
        takes_commands = any(key in COMMANDS for key in keys)
        return cls(
            commands=(f"{service}.#",) if takes_commands else (),
            events=tuple(key for key in keys if key in EVENTS),
        )

    def receives(self, exchange: str, routing_key: str) -> bool:
        patterns = self.commands if exchange == "commands" else self.events
        return any(_matches(pattern, routing_key) for pattern in patterns)

    def items(self) -> Iterable[tuple[str, tuple[str, ...]]]:
        return (("commands", self.commands), ("events", self.events))


def check_route(envelope: Envelope, exchange: str | None, routing_key: str | None, names: Names) -> None:
    """A message is handled only as what it was published as. The broker checks each user's
    right to publish a routing key (on the topic exchanges); a body whose type says otherwise, or
    one put into a queue by its name through the default exchange, would get round that check."""
    expected_exchange = (
        names.commands if envelope.routing_key in COMMANDS else names.events if envelope.routing_key in EVENTS else None
    )
    if routing_key != envelope.routing_key or (expected_exchange and exchange != expected_exchange):
        raise Misrouted(
            f"type {envelope.type} arrived from exchange {exchange!r} with routing key {routing_key!r}; "
            f"it is published to {expected_exchange or 'its exchange'} as {envelope.routing_key}"
        )


Topology = Mapping[str, QueueBindings]  # service name -> its queue's bindings

QueueType = Literal["quorum", "classic"]
DELIVERY_LIMIT = "x-delivery-limit"
# RabbitMQ's words for a queue declared with other arguments than it has.
_INEQUIVALENT = re.compile(
    r"inequivalent arg '(?P<arg>[^']+)' for queue '(?P<queue>[^']+)'"
    r".*?received (?P<wanted>.*?) but current is (?P<current>.*)$"
)
_VALUE = re.compile(r"'(?P<value>[^']*)'")


@dataclass(frozen=True)
class QueueOptions:
    """How the service queues are declared: ``STOPPOC_QUEUE_TYPE`` and ``STOPPOC_MAX_DELIVERIES``.

    ``insist``: the type was asked for (``STOPPOC_QUEUE_TYPE`` set), so a queue of the other type is
    an error to fix. Left unset, new queues are quorum queues and a queue that exists already with
    the other type (a namespace made before quorum queues were the default) is used as it is, with
    a warning naming the move: an upgrade never stops a running system.
    """

    type: QueueType = "quorum"
    max_deliveries: int = 5
    insist: bool = True

    @classmethod
    def of(cls, settings: Any) -> "QueueOptions":
        return cls(settings.queue_type, settings.max_deliveries, insist="queue_type" in settings.model_fields_set)

    def service_queue(self, names: "Names", queue_name: str) -> dict[str, Any]:
        arguments: dict[str, Any] = {"x-dead-letter-exchange": names.dlx, "x-dead-letter-routing-key": queue_name}
        if self.type == "quorum":
            arguments |= {
                "x-queue-type": "quorum",
                # Deliveries that may fail (a crash, a lost connection) before the broker gives up:
                # the service's own limit, which it reaches first and dead-letters with its reasons.
                DELIVERY_LIMIT: self.max_deliveries,
                # Nothing dropped on the way to the dead-letter queue (needs reject-publish).
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }
        return arguments

    def dead_letter_queue(self) -> dict[str, Any]:
        # No delivery limit here: listing dead letters hands them back, which must cost nothing. Not
        # x-delivery-limit -1 either: 4.x reads it as no limit, but 3.x as 0 (a dead letter dropped at
        # the first look); 4.x's default of 20 is lifted by a policy (docs/operations.md).
        return {"x-queue-type": "quorum"} if self.type == "quorum" else {}


class QueueMismatch(StopPocError):
    """A queue exists on the broker with other arguments than this service declares."""

    def __init__(self, queue: str, argument: str, wanted: str, current: str, fix: str) -> None:
        self.queue, self.argument, self.wanted, self.current = queue, argument, wanted, current
        super().__init__(
            f"queue {queue} exists with {argument} {current}, but this service declares {wanted}: {fix}"
            ' (docs/reliability.md, "Quorum queues")'
        )


def _mismatch(error: ChannelPreconditionFailed, options: QueueOptions) -> QueueMismatch | None:
    """The mismatch RabbitMQ reports, or None when the existing queue is safe to use as it is:
    a delivery limit above the service's own (the service still dead-letters first)."""
    found = _INEQUIVALENT.search(str(error))
    if found is None:
        return QueueMismatch("?", "arguments", "these", str(error), "see RabbitMQ's words")
    queue, argument = found["queue"], found["arg"]
    wanted, current = (_value(found[side]) for side in ("wanted", "current"))
    if argument == "x-queue-type":
        return _type_mismatch(queue, options, current if current not in ("", "none") else "classic")
    if argument == DELIVERY_LIMIT and current.isdigit() and int(current) >= options.max_deliveries:
        return None
    fix = "delete the queue once drained and run `stoppoc migrate`"
    if argument == DELIVERY_LIMIT:
        fix += f", or run the services with STOPPOC_MAX_DELIVERIES={current}"
    return QueueMismatch(queue, argument, wanted, current, fix)


def _type_mismatch(queue: str, options: QueueOptions, current: str) -> QueueMismatch:
    queues = [queue] if queue.endswith(".dlq") else [queue, f"{queue}.dlq"]
    deletes = "; ".join(f"rabbitmqctl delete_queue {name}" for name in queues)
    fix = (
        f"set STOPPOC_QUEUE_TYPE={current} to go on with it, or move to {options.type}: stop the services, let"
        f" the queue drain, keep what its dead-letter queue holds, delete them ({deletes})"
        " and run `stoppoc migrate`"
    )
    return QueueMismatch(queue, "type", options.type, current, fix)


def _value(text: str) -> str:
    found = _VALUE.search(text)
    return found["value"] if found else text.strip()


def _matches(pattern: str, routing_key: str) -> bool:
    if pattern.endswith(".#"):
        return routing_key.startswith(pattern[:-1])
    return pattern == routing_key


async def declare(
    channel: AbstractChannel, names: Names, topology: Topology, options: QueueOptions | None = None
) -> None:
    """The exchanges, and each service's queue, dead-letter queue and bindings. A queue that
    exists with another type (or a delivery limit below the service's) raises ``QueueMismatch``."""
    options = options or QueueOptions()
    exchanges = {
        "commands": await channel.declare_exchange(names.commands, ExchangeType.TOPIC, durable=True),
        "events": await channel.declare_exchange(names.events, ExchangeType.TOPIC, durable=True),
    }
    dlx = await channel.declare_exchange(names.dlx, ExchangeType.DIRECT, durable=True)
    dead_letters_exchange = await channel.declare_exchange(names.dead_letters, ExchangeType.TOPIC, durable=True)
    for service, bindings in topology.items():
        queue_name = names.queue(service)
        queue = await _declare_queue(channel, queue_name, functools.partial(_service_queue, names, queue_name), options)
        dead_letters = await _declare_queue(
            channel, names.dead_letter_queue(service), QueueOptions.dead_letter_queue, options
        )
        for exchange in (dlx, dead_letters_exchange):
            await dead_letters.bind(exchange, routing_key=queue_name)
        for exchange_key, routing_keys in bindings.items():
            for routing_key in routing_keys:
                await queue.bind(exchanges[exchange_key], routing_key=routing_key)


def _service_queue(names: Names, queue_name: str, options: QueueOptions) -> dict[str, Any]:
    return options.service_queue(names, queue_name)


async def _declare_queue(
    channel: AbstractChannel,
    name: str,
    arguments: Callable[[QueueOptions], dict[str, Any]],
    options: QueueOptions,
) -> aio_pika.abc.AbstractQueue:
    try:
        return await channel.declare_queue(name, durable=True, arguments=arguments(options))
    except ChannelPreconditionFailed as error:
        await channel.reopen()  # the broker closed the channel over it
        # RabbitMQ names the first argument that differs, not always the type: ask whether the
        # queue is what the other type would have declared.
        other = QueueOptions("classic" if options.type == "quorum" else "quorum", options.max_deliveries)
        try:
            existing = await channel.declare_queue(name, durable=True, arguments=arguments(other))
        except ChannelPreconditionFailed:
            await channel.reopen()
        else:
            of_other_type = _type_mismatch(name, options, other.type)
            if options.insist:
                raise of_other_type from error
            get_logger("stoppoc.topology").warning(
                "queue of the other type used as it is (STOPPOC_QUEUE_TYPE unset)",
                queue=name,
                detail=str(of_other_type),
            )
            return existing
        mismatch = _mismatch(error, options)
        if mismatch is not None:
            raise mismatch from error
        return await channel.declare_queue(name, passive=True)


async def connect_first(amqp_urls: Iterable[str]) -> aio_pika.abc.AbstractConnection:
    """A plain connection to the first broker address that answers."""
    failure: tuple[str, BaseException] | None = None
    for url in amqp_urls:
        try:
            return await aio_pika.connect(url)
        except CANNOT_CONNECT as error:
            failure = (url, error)
    assert failure is not None, "no broker address given"
    raise broker_unreachable(*failure) from failure[1]


async def declare_at(
    amqp_url: str | Iterable[str], names: Names, topology: Topology, options: QueueOptions | None = None
) -> None:
    connection = await connect_first([amqp_url] if isinstance(amqp_url, str) else amqp_url)
    async with connection:
        await declare(await connection.channel(), names, topology, options)


async def delete(amqp_url: str, names: Names, services: Iterable[str]) -> None:
    """Remove every queue and exchange of a namespace (tests clean up with this)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for service in services:
            await channel.queue_delete(names.queue(service))
            await channel.queue_delete(names.dead_letter_queue(service))
        for exchange in (names.commands, names.events, names.dlx, names.dead_letters):
            await channel.exchange_delete(exchange)
