"""Broker topology: the contract's exchanges, one durable queue per service with its
dead-letter queue, and the bindings that route commands and events to each service.

A service's bindings are derived from its handlers (``QueueBindings.of``): a handler is its
binding, so a new handler cannot be forgotten in a table somewhere. Commands are addressed to one
service by the first word of their routing key, so a service binds ``<service>.#`` on the commands
exchange (a command it has no handler for is dead-lettered as ``unknown_type``, never dropped);
on the events exchange it binds exactly the events it handles.

Declared idempotently, so any service, ``stoppoc migrate`` or a test can come up first.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, ExchangeType

from stoppoc.contract import COMMANDS, EVENTS
from stoppoc.contract.envelope import Envelope
from stoppoc.contract.errors import Misrouted, unreachable


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
        return f"{self.namespace}.dlx"

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


def _matches(pattern: str, routing_key: str) -> bool:
    if pattern.endswith(".#"):
        return routing_key.startswith(pattern[:-1])
    return pattern == routing_key


async def declare(channel: AbstractChannel, names: Names, topology: Topology) -> None:
    """The exchanges, and each service's queue, dead-letter queue and bindings."""
    exchanges = {
        "commands": await channel.declare_exchange(names.commands, ExchangeType.TOPIC, durable=True),
        "events": await channel.declare_exchange(names.events, ExchangeType.TOPIC, durable=True),
    }
    dlx = await channel.declare_exchange(names.dlx, ExchangeType.DIRECT, durable=True)
    for service, bindings in topology.items():
        queue_name = names.queue(service)
        dead_letters = await channel.declare_queue(names.dead_letter_queue(service), durable=True)
        await dead_letters.bind(dlx, routing_key=queue_name)
        queue = await channel.declare_queue(
            queue_name,
            durable=True,
            arguments={"x-dead-letter-exchange": names.dlx, "x-dead-letter-routing-key": queue_name},
        )
        for exchange_key, routing_keys in bindings.items():
            for routing_key in routing_keys:
                await queue.bind(exchanges[exchange_key], routing_key=routing_key)


async def declare_at(amqp_url: str, names: Names, topology: Topology) -> None:
    try:
        connection = await aio_pika.connect(amqp_url)
    except OSError as error:
        raise unreachable("RabbitMQ", amqp_url, error) from error
    async with connection:
        await declare(await connection.channel(), names, topology)


async def delete(amqp_url: str, names: Names, services: Iterable[str]) -> None:
    """Remove every queue and exchange of a namespace (tests clean up with this)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for service in services:
            await channel.queue_delete(names.queue(service))
            await channel.queue_delete(names.dead_letter_queue(service))
        for exchange in (names.commands, names.events, names.dlx):
            await channel.exchange_delete(exchange)
