"""The bench's load, through the contract only: realistic POC clusters registered and funded, then
Stop POC pressed for each at a chosen concurrency, each timed from its request to its final event.

The driver listens only to what it needs (final events, and the registrations it waits for),
so that on a small machine it takes little of the CPU the services are measured on.
"""

import asyncio
import contextlib
import statistics
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractQueue

from stoppoc.contract.envelope import CONTENT_TYPE, Envelope, new_envelope
from stoppoc.services import registry
from stoppoc.shared import topology
from stoppoc.shared.client import FINAL_EVENTS

WALLET_CREDIT = 200_000_000  # VND: more than any cluster below costs for the longest cycle offered
USAGE_CYCLES = (1, 3, 6, 12)
SETUP_EVENTS = ("resource.registered", "wallet.credited")


@dataclass(frozen=True)
class BenchCluster:
    """A realistic POC cluster: 3 nodes, their 3 boot volumes, 2 PVCs and a load balancer."""

    number: int
    run: str

    @property
    def cluster_id(self) -> str:
        return f"bench-{self.run}-cluster-{self.number}"

    @property
    def customer_id(self) -> str:
        return f"bench-{self.run}-customer-{self.number}"

    def resources(self) -> list[dict[str, Any]]:
        def resource(name: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
            rid = f"{self.cluster_id}-{name}"
            return {"resource_id": rid, "cluster_id": self.cluster_id, "kind": kind, "billing": "poc", "spec": spec}

        nodes = [
            resource(f"node-{n}", "server", {"flavor": "general-4c8g", "vcpu": 4, "ram_gib": 8}) for n in (1, 2, 3)
        ]
        boot = {"size_gib": 50, "volume_type": "ssd-standard", "role": "boot"}
        boots = [resource(f"boot-{n}", "volume", boot) for n in (1, 2, 3)]
        pvcs = [
            resource("pvc-db", "volume", {"size_gib": 100, "volume_type": "ssd-premium", "role": "pvc"}),
            resource("pvc-logs", "volume", {"size_gib": 200, "volume_type": "hdd-standard", "role": "pvc"}),
        ]
        return [*nodes, *boots, *pvcs, resource("ingress", "load_balancer", {"flavor": "lb-small"})]

    def commands(self) -> list[tuple[str, dict[str, Any]]]:
        cluster = {"cluster_id": self.cluster_id, "customer_id": self.customer_id, "name": "bench", "poc": True}
        credit = {"customer_id": self.customer_id, "amount": WALLET_CREDIT, "reference": f"{self.cluster_id}-topup"}
        return [
            ("inventory.cluster.upsert", cluster),
            *(("inventory.resource.upsert", resource) for resource in self.resources()),
            ("payment.wallet.credit", credit),
        ]

    def stop_request(self) -> dict[str, Any]:
        return {
            "request_id": f"{self.cluster_id}-stop-{uuid.uuid4().hex[:8]}",
            "customer_id": self.customer_id,
            "cluster_id": self.cluster_id,
            "usage_cycle_months": USAGE_CYCLES[self.number % len(USAGE_CYCLES)],
            "auto_renew": self.number % 2 == 0,
            "coupon_code": None,
        }


@dataclass(frozen=True)
class Outcome:
    request_id: str
    routing_key: str
    reason: str | None
    latency_ms: float


@dataclass
class Lone:
    """Conversions run one at a time: their latency and the hops on their path."""

    latency_ms: list[float] = field(default_factory=list)
    hops: list[int] = field(default_factory=list)
    # Milliseconds from a hop's input arriving to its output arriving, by "service routing_key".
    hop_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def hop_medians(self) -> dict[str, float]:
        return {hop: statistics.median(ms) for hop, ms in self.hop_ms.items()}


class Driver:
    """Sends the bench's commands and sees the events it waits for."""

    def __init__(self, amqp_url: str, names: topology.Names) -> None:
        self._amqp_url = amqp_url
        self._names = names
        self.seen: Counter[str] = Counter()  # setup events by routing key, each id once
        self._seen_ids: set[str] = set()
        self.finals: dict[str, Outcome] = {}
        self.final_copies = 0  # final events that came again (at-least-once publishing)
        self._sent_at: dict[str, float] = {}
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self._tracing: dict[str, tuple[Envelope, float]] | None = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> "Driver":
        self._connection = await aio_pika.connect(self._amqp_url)
        self._channel: AbstractChannel = await self._connection.channel(publisher_confirms=True)
        await topology.declare(self._channel, self._names, registry.topology())
        self._commands: AbstractExchange = await self._channel.get_exchange(self._names.commands)
        self._events: AbstractExchange = await self._channel.get_exchange(self._names.events)
        self._queue: AbstractQueue = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        for routing_key in (*FINAL_EVENTS, *SETUP_EVENTS):
            await self._queue.bind(self._events, routing_key=routing_key)
        await self._queue.consume(self._on_event, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._connection.close()

    async def send(self, routing_key: str, data: dict[str, Any]) -> None:
        envelope = new_envelope(
            routing_key,
            data,
            source="/stoppoc/bench",
            subject=data.get("cluster_id"),
            correlationid=data.get("request_id"),
        )
        message = aio_pika.Message(
            envelope.to_json(),
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=envelope.id,
        )
        await self._commands.publish(message, routing_key=routing_key)

    async def send_all(self, commands: Iterable[tuple[str, dict[str, Any]]], at_once: int = 64) -> None:
        """Many commands, ``at_once`` awaiting their confirms together."""
        pending = list(commands)
        for start in range(0, len(pending), at_once):
            await asyncio.gather(*(self.send(key, data) for key, data in pending[start : start + at_once]))

    async def wait_for_setup(self, wanted: Counter[str], timeout: float, progress: Callable[[str], None]) -> None:
        deadline = time.monotonic() + timeout
        while any(self.seen[key] < n for key, n in wanted.items()):
            progress(", ".join(f"{key} {self.seen[key]}/{n}" for key, n in wanted.items()))
            if time.monotonic() > deadline:
                raise TimeoutError(f"the clusters were not registered and funded within {timeout:.0f}s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.5)

    async def convert(self, cluster: BenchCluster, deadline: float) -> Outcome:
        """Press Stop POC for the cluster and wait for the conversion's final event until the
        ``deadline`` (``time.monotonic()``)."""
        request = cluster.stop_request()
        request_id = request["request_id"]
        ended = self._waiting[request_id] = asyncio.get_running_loop().create_future()
        self._sent_at[request_id] = time.perf_counter()
        await self.send("inventory.stop_poc.request", request)
        try:
            return await asyncio.wait_for(ended, max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise TimeoutError(f"conversion {request_id} did not end") from None

    async def trace_alone(self, clusters: Iterable[BenchCluster], timeout: float) -> Lone:
        """Convert these one at a time, seeing every event, to time each hop on the path."""
        lone = Lone()
        await self._queue.bind(self._events, routing_key="#")
        self._tracing = {}
        try:
            for cluster in clusters:
                outcome = await self.convert(cluster, time.monotonic() + timeout)
                lone.latency_ms.append(outcome.latency_ms)
                self._record_hops(outcome.request_id, lone)
                self._tracing.clear()
        finally:
            self._tracing = None
            await self._queue.unbind(self._events, routing_key="#")
        return lone

    def _record_hops(self, request_id: str, lone: Lone) -> None:
        assert self._tracing is not None
        final = next(e for e, _ in self._tracing.values() if e.routing_key in FINAL_EVENTS)
        path = [self._tracing[final.id]]
        while (cause := path[-1][0].causationid) in self._tracing:
            path.append(self._tracing[cause])
        path.reverse()
        lone.hops.append(len(path))
        before = self._sent_at[request_id]
        for envelope, arrived in path:
            hop = f"{envelope.source.rsplit('/', 1)[-1]} {envelope.routing_key}"
            lone.hop_ms[hop].append((arrived - before) * 1000)
            before = arrived

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        arrived = time.perf_counter()
        key = message.routing_key or ""
        if self._tracing is not None:
            envelope = Envelope.parse(message.body)
            self._tracing.setdefault(envelope.id, (envelope, arrived))
        if key in FINAL_EVENTS:
            self._on_final(Envelope.parse(message.body), arrived)
        elif message.message_id and message.message_id not in self._seen_ids:
            self._seen_ids.add(message.message_id)
            self.seen[key] += 1
            self._changed.set()

    def _on_final(self, envelope: Envelope, arrived: float) -> None:
        request_id = str(envelope.data.get("request_id"))
        if request_id in self.finals:
            self.final_copies += 1
            return
        latency_ms = (arrived - self._sent_at.get(request_id, arrived)) * 1000
        outcome = Outcome(request_id, envelope.routing_key, envelope.data.get("reason"), latency_ms)
        self.finals[request_id] = outcome
        waiting = self._waiting.pop(request_id, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(outcome)


async def convert_all(
    driver: Driver, clusters: list[BenchCluster], concurrency: int, timeout: float
) -> tuple[list[Outcome], list[str]]:
    """Keep ``concurrency`` conversions in flight until every cluster was pressed, all within
    ``timeout`` seconds: the final event of each, and what did not end in time."""
    deadline = time.monotonic() + timeout
    remaining = iter(clusters)
    outcomes: list[Outcome] = []
    not_ended: list[str] = []

    async def lane() -> None:
        for cluster in remaining:  # the lanes share one iterator
            try:
                outcomes.append(await driver.convert(cluster, deadline))
            except TimeoutError as error:
                not_ended.append(str(error))

    await asyncio.gather(*(lane() for _ in range(min(concurrency, len(clusters)))))
    return outcomes, not_ended
