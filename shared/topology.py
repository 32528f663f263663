"""Broker topology: the contract's exchanges, one durable queue per service with its
dead-letter queue, and the bindings that route commands and events to each service.

Declared idempotently by every service at start, so any one of them can come up first.
"""

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, ExchangeType

SERVICES = ("inventory", "checkout", "payment", "notifier")


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


# What each service's queue receives: routing keys on the commands and events exchanges.
BINDINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "inventory": {
        "commands": ("inventory.#",),
        "events": ("order.rejected", "payment.settled", "payment.failed"),
    },
    "checkout": {
        "commands": ("checkout.#",),
        "events": ("stop_poc.requested", "payment.settled", "payment.failed"),
    },
    "payment": {
        "commands": ("payment.#",),
        "events": ("order.created",),
    },
    "notifier": {
        "commands": ("notifier.#",),
        "events": (
            "stop_poc.rejected",
            "payment.settled",
            "payment.failed",
            "stop_poc.failed",
            "cluster.poc_stopped",
            "wallet.credited",
            "cluster.poc_expiring",
            "payment.awaiting_funds",
        ),
    },
}


async def declare(channel: AbstractChannel, names: Names) -> None:
    exchanges = {
        "commands": await channel.declare_exchange(names.commands, ExchangeType.TOPIC, durable=True),
        "events": await channel.declare_exchange(names.events, ExchangeType.TOPIC, durable=True),
    }
    dlx = await channel.declare_exchange(names.dlx, ExchangeType.DIRECT, durable=True)
    for service, bindings in BINDINGS.items():
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


async def declare_at(amqp_url: str, names: Names) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await declare(await connection.channel(), names)


async def delete(amqp_url: str, names: Names) -> None:
    """Remove every queue and exchange of a namespace (tests clean up with this)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for service in SERVICES:
            await channel.queue_delete(names.queue(service))
            await channel.queue_delete(names.dead_letter_queue(service))
        for exchange in (names.commands, names.events, names.dlx):
            await channel.exchange_delete(exchange)
