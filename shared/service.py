"""Builds a service: a FastStream app over RabbitMQ whose lifespan owns the asyncpg pool,
the broker topology, the consumer of the service's queue and its outbox relay."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

import asyncpg
from faststream import AckPolicy, FastStream
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage as RabbitMessageContext
from faststream.rabbit.utils import RabbitClientProperties

from stoppoc.shared import db, topology
from stoppoc.shared.consumer import Consumer
from stoppoc.shared.handlers import HandlerRegistry
from stoppoc.shared.logging import configure, get_logger
from stoppoc.shared.outbox import OutboxRelay
from stoppoc.shared.periodic import PeriodicRunner, PeriodicTask
from stoppoc.shared.queries import Queries
from stoppoc.shared.settings import Settings, get_settings


class Worker(Protocol):
    """Work a service runs beside its consumer for as long as it runs (notifier's deliveries)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


# Builds a worker once the service has its pool: (pool, settings) -> worker.
WorkerFactory = Callable[[asyncpg.Pool, Settings], Worker]


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    registry: HandlerRegistry
    package: str  # holds migrations/
    queries: Queries  # the service's queries.sql
    periodic: tuple[PeriodicTask, ...] = ()
    workers: tuple[WorkerFactory, ...] = ()

    @property
    def bindings(self) -> topology.QueueBindings:
        return topology.QueueBindings.of(self.name, self.registry.routing_keys)

    def build(self, settings: Settings | None = None, declared: topology.Topology | None = None) -> "ServiceApp":
        """The service as a FastStream app. ``declared``: the queues it declares as it starts
        (every service's, from ``stoppoc run``; by default its own)."""
        return create_app(self, settings or get_settings(), declared)


@dataclass
class Runtime:
    """What a running service holds; tests reach the pool and relay through it."""

    definition: ServiceDefinition
    settings: Settings
    broker: RabbitBroker
    pool: asyncpg.Pool | None = None
    relay: OutboxRelay | None = None
    consumer: Consumer | None = None
    periodic: PeriodicRunner | None = None
    workers: list[Worker] = field(default_factory=list)


class ServiceApp(FastStream):
    """A service's FastStream app, and what it holds while it runs."""

    runtime: Runtime


def create_app(
    definition: ServiceDefinition, settings: Settings, declared: topology.Topology | None = None
) -> ServiceApp:
    names = topology.Names(settings.namespace)
    declared = declared or {definition.name: definition.bindings}
    broker = RabbitBroker(
        settings.amqp_url,
        logger=None,
        graceful_timeout=20.0,
        # Named so operators (and the fault tests) can find this service's connection. FastStream
        # turns these into URL parameters, and aiormq takes the connection name from `name`.
        # (`name` is not among the properties FastStream's type lists, hence the cast.)
        client_properties=cast(RabbitClientProperties, {"name": f"stoppoc-{definition.name}-{settings.namespace}"}),
    )
    runtime = Runtime(definition, settings, broker)
    log = get_logger(service=definition.name)

    async def on_message(message: RabbitMessageContext) -> None:
        assert runtime.consumer is not None  # built at startup, before the subscriber runs
        await runtime.consumer.on_message(message)

    broker.subscriber(
        RabbitQueue(names.queue(definition.name), declare=False),
        channel=Channel(prefetch_count=settings.prefetch),
        ack_policy=AckPolicy.MANUAL,
        no_reply=True,  # replies to requests are sent by the consumer itself
    )(on_message)

    async def startup() -> None:
        configure(settings.log_level)
        await topology.declare_at(settings.amqp_url, names, declared)
        if settings.migrate_on_start:
            # Each service brings its own schema up to date (idempotent, under an advisory lock),
            # so `faststream run services.<name>.app:app` works on a fresh database too.
            await db.ensure_database(settings.database_url)
        runtime.pool = await db.create_pool(
            settings.database_url, definition.name, min_size=1, max_size=settings.prefetch + 2
        )
        if settings.migrate_on_start:
            async with runtime.pool.acquire() as conn:
                await db.migrate(conn, definition.name, definition.package)
        runtime.relay = OutboxRelay(runtime.pool, broker, names, settings.relay_poll_seconds)
        runtime.consumer = Consumer(
            definition.name,
            definition.registry,
            definition.queries,
            runtime.pool,
            broker,
            runtime.relay,
            names,
            settings,
        )

        runtime.periodic = PeriodicRunner(
            definition.periodic, runtime.pool, definition.queries, runtime.consumer.source, settings, runtime.relay
        )
        runtime.workers = [build(runtime.pool, settings) for build in definition.workers]

    async def after_startup() -> None:
        assert runtime.relay is not None and runtime.periodic is not None  # built at startup
        runtime.relay.start()
        runtime.periodic.start()
        for worker in runtime.workers:
            worker.start()
        log.info("service started", queue=names.queue(definition.name), namespace=settings.namespace)

    async def on_shutdown() -> None:
        # Stop taking messages and wait for those in hand, then flush the outbox while
        # the broker is still connected.
        for subscriber in broker.subscribers:
            await subscriber.stop()
        if runtime.consumer:
            # Still in hand after the graceful timeout: hand them back now, or the broker's own
            # stop would wait for them a second time.
            await runtime.consumer.abandon_in_hand()
        if runtime.periodic:
            await runtime.periodic.stop()
        for worker in runtime.workers:
            await worker.stop()
        if runtime.relay:
            await runtime.relay.stop()

    async def after_shutdown() -> None:
        if runtime.pool:
            await runtime.pool.close()
        log.info("service stopped")

    app = ServiceApp(
        broker,
        on_startup=[startup],
        after_startup=[after_startup],
        on_shutdown=[on_shutdown],
        after_shutdown=[after_shutdown],
    )
    app.runtime = runtime
    return app
