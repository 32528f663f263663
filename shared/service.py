"""Builds a service: a FastStream app over RabbitMQ whose lifespan owns the asyncpg pool,
the broker topology, the consumer of the service's queue and its outbox relay, and what
``/health/ready`` asks of them (``Runtime.readiness``)."""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
from faststream import AckPolicy, FastStream
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue
from faststream.rabbit.message import RabbitMessage
from faststream.rabbit.subscriber import RabbitSubscriber

from stoppoc.shared import db, metrics, topology
from stoppoc.shared.availability import ConsumerGate, DatabaseWatch
from stoppoc.shared.broker import service_broker
from stoppoc.shared.consumer import Consumer
from stoppoc.shared.handlers import HandlerRegistry
from stoppoc.shared.logging import configure, get_logger
from stoppoc.shared.outbox import FLUSH_SECONDS, OutboxRelay
from stoppoc.shared.periodic import PeriodicRunner, PeriodicTask
from stoppoc.shared.queries import Queries
from stoppoc.shared.settings import Settings, get_settings


class Worker(Protocol):
    """Work a service runs beside its consumer for as long as it runs (notifier's deliveries)."""

    def start(self) -> None: ...

    async def stop(self, timeout: float) -> None:
        """Stop within ``timeout`` seconds, cutting short what is still in hand then."""


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


# How often a queue of the wrong type is declared again, so the service starts consuming by
# itself once an operator has fixed it.
TOPOLOGY_RETRY_SECONDS = 30.0


@dataclass
class Runtime:
    """What a running service holds; tests reach the pool and relay through it."""

    definition: ServiceDefinition
    settings: Settings
    broker: RabbitBroker
    gate: ConsumerGate
    pool: asyncpg.Pool | None = None
    relay: OutboxRelay | None = None
    consumer: Consumer | None = None
    periodic: PeriodicRunner | None = None
    watch: DatabaseWatch | None = None
    started: bool = False
    background: list["asyncio.Task[None]"] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.definition.name

    async def readiness(self) -> dict[str, Any]:
        """Each check with ``ok`` (and ``detail`` when not): broker connected, database answering,
        outbox relay running and not stuck, consumer taking messages."""
        if not self.started or self.watch is None or self.relay is None:
            return {"service": {"ok": False, "detail": "starting" if not self.started else "stopping"}}
        broker = (
            {"ok": True}
            if await self.broker.ping(timeout=1.0)
            else {"ok": False, "detail": "not connected to RabbitMQ (reconnecting)"}
        )
        if not self.watch.down and (problem := await self.watch.answers()) is not None:
            await self.watch.outage(problem)  # pause now rather than at the next message
        consumer = (
            {"ok": True}
            if self.gate.is_open
            else {"ok": False, "detail": "paused: " + "; ".join(self.gate.reasons.values())}
        )
        checks = {"broker": broker, "database": self.watch.status(), "outbox_relay": self.relay.health()}
        checks["consumer"] = consumer
        metrics.READY.labels(self.definition.name).set(all(check["ok"] for check in checks.values()))
        return checks


class ServiceApp(FastStream):
    """A service's FastStream app, and what it holds while it runs."""

    runtime: Runtime


async def _the_message(message: RabbitMessage) -> RabbitMessage:
    """The "decoded" message the handler is given: the message itself, for the consumer to read,
    acknowledge or dead-letter. A coroutine, and the broker runs no dependency injection: FastStream
    runs a plain function (a decoder, or the resolver of a ``Context`` argument) in a worker thread,
    a thread switch per message that cost 10 to 22 % of each service's time (docs/performance.md)."""
    return message


def create_app(
    definition: ServiceDefinition, settings: Settings, declared: topology.Topology | None = None
) -> ServiceApp:
    names = topology.Names(settings.namespace)
    declared = declared or {definition.name: definition.bindings}
    options = topology.QueueOptions.of(settings)
    # Named so operators (and the fault tests) can find this service's connection.
    broker = service_broker(
        settings.amqp_urls,
        f"stoppoc-{definition.name}-{settings.namespace}",
        logger=None,
        graceful_timeout=settings.graceful_timeout_seconds,
        apply_types=False,
    )
    runtime = Runtime(definition, settings, broker, ConsumerGate(definition.name))
    log = get_logger("stoppoc.service", service=definition.name)

    async def on_message(message: RabbitMessage) -> None:
        assert runtime.consumer is not None  # built at startup, before the subscriber runs
        await runtime.consumer.on_message(message)

    subscriber = broker.subscriber(
        RabbitQueue(names.queue(definition.name), declare=False),
        # The consumer reads the body itself. FastStream's own decoding parses a body without a
        # content type as JSON, and one nested 100,000 deep raised RecursionError there: the message
        # stayed unacknowledged in its prefetch slot, neither handled nor dead-lettered.
        decoder=_the_message,
        channel=Channel(prefetch_count=settings.prefetch),
        ack_policy=AckPolicy.MANUAL,
        no_reply=True,  # replies to requests are sent by the consumer itself
    )
    subscriber(on_message)
    runtime.gate.attach(lambda: _pause(subscriber), lambda: _resume(subscriber))

    async def declare_topology() -> bool:
        """True when the service's queue is as the settings ask; else the consumer stays paused
        with the reason and its fix (readiness names it), and this is tried again later."""
        try:
            await topology.declare_at(settings.amqp_urls, names, declared, options)
        except topology.QueueMismatch as everything:
            try:  # is it this service's own queue, or another's?
                await topology.declare_at(settings.amqp_urls, names, {definition.name: definition.bindings}, options)
            except topology.QueueMismatch as own:
                log.error("queue of the wrong type: not consuming", detail=str(own))
                await runtime.gate.close("topology", str(own))
                return False
            log.error("another service's queue is of the wrong type", detail=str(everything))
        await runtime.gate.open("topology")
        return True

    async def until_declared() -> None:
        while True:
            await asyncio.sleep(TOPOLOGY_RETRY_SECONDS)
            if await declare_topology():
                return

    async def startup() -> None:
        configure(settings.log_level)
        metrics.service_started(definition.name)
        if settings.migrate_on_start:
            # Migrating brings the broker's topology up to date too. A service running without
            # (its own broker user has no configure rights) finds what `stoppoc migrate` declared.
            if not await declare_topology():
                runtime.background.append(asyncio.create_task(until_declared(), name=f"declare-{definition.name}"))
            # Each service brings its own schema up to date (idempotent, under an advisory lock),
            # so `faststream run services.<name>.app:app` works on a fresh database too.
            await db.ensure_database(settings.database_url)
        runtime.pool = await db.create_pool(
            settings.database_url, definition.name, min_size=1, max_size=settings.prefetch + 2
        )
        if settings.migrate_on_start:
            async with runtime.pool.acquire() as conn:
                await db.migrate(conn, definition.name, definition.package)
        runtime.relay = OutboxRelay(runtime.pool, broker, names, settings.relay_poll_seconds, definition.name)
        runtime.watch = DatabaseWatch(settings.database_url, runtime.gate, settings.retry_base_seconds)
        runtime.consumer = Consumer(
            definition.name,
            definition.registry,
            definition.queries,
            runtime.pool,
            broker,
            runtime.relay,
            names,
            settings,
            runtime.watch,
        )

        runtime.periodic = PeriodicRunner(
            definition.periodic, runtime.pool, definition.queries, runtime.consumer.source, settings, runtime.relay
        )
        runtime.workers = [build(runtime.pool, settings) for build in definition.workers]

    async def after_startup() -> None:
        assert runtime.relay is not None and runtime.periodic is not None  # built at startup
        await runtime.gate.apply()
        runtime.relay.start()
        runtime.periodic.start()
        for worker in runtime.workers:
            worker.start()
        runtime.started = True
        log.info("service started", queue=names.queue(definition.name), namespace=settings.namespace)

    async def on_shutdown() -> None:
        # One budget: the graceful timeout for the messages in hand and, side by side, the
        # workers' attempts in flight; then at most FLUSH_SECONDS to flush the outbox while the
        # broker is still connected (docs/reliability.md: the grace periods exceed the sum).
        runtime.started = False
        for task in runtime.background:
            task.cancel()
        workers = [
            asyncio.create_task(worker.stop(settings.graceful_timeout_seconds), name=f"stop-{definition.name}-worker")
            for worker in runtime.workers
        ]
        for subscriber in broker.subscribers:
            await subscriber.stop()
        if runtime.consumer:
            # Still in hand after the graceful timeout: hand them back now, or the broker's own
            # stop would wait for them a second time.
            await runtime.consumer.abandon_in_hand()
        if runtime.periodic:
            await runtime.periodic.stop()
        await asyncio.gather(*workers)
        if runtime.watch:
            await runtime.watch.stop()
        if runtime.relay:
            await runtime.relay.stop(FLUSH_SECONDS)

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


# Pausing and resuming reach into FastStream's subscriber (pinned at 0.7.8): its own stop() would
# wait for the messages in hand, which are the very ones waiting for the database. Cancelling the
# consumer keeps the channel, so the messages in hand can still be acknowledged; the robust queue
# forgets a cancelled consumer, so a reconnect does not restore it either.
async def _pause(subscriber: RabbitSubscriber) -> None:
    queue, tag = subscriber._queue_obj, subscriber._consumer_tag
    if queue is None or tag is None:
        return
    subscriber._consumer_tag = None
    if not queue.channel.is_closed:
        with contextlib.suppress(Exception):  # the channel is going away anyway
            await queue.cancel(tag)


async def _resume(subscriber: RabbitSubscriber) -> None:
    queue = subscriber._queue_obj
    if queue is None or subscriber._consumer_tag is not None:
        return
    # FastStream passes its own consume the same way (aio-pika types it for the abstract message).
    subscriber._consumer_tag = await queue.consume(subscriber.consume, arguments=subscriber.consume_args)  # type: ignore[arg-type]
