"""The bare four-hop chain: what the broker and the database allow, measured in the bench's run.

Each hop takes a persistent message off its durable queue, inserts the message's id into an inbox
(the services' inbox table) in one committed transaction, publishes the next persistent message
through a topic exchange with a publisher confirm, and only then acknowledges. Nothing else: no
envelope, no validation, no logging, aio-pika and asyncpg alone, in one process with ``in_flight``
chains at once. The services do the same per hop and more, so the ratio of their figures to these
says how much of what the machine allows they use.
"""

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractQueue
from aiormq.abc import FieldTable

from stoppoc.cli.bench_usage import SQL

HOPS = 4
# Database connections: as many as a service's pool has with the default prefetch (8 + 2); the
# chain is no faster with more, and a shared server has few to spare.
POOL_SIZE = 10
# About the size of a service's CloudEvent, so the broker and the disk carry what they carry there.
BODY = b'{"padding": "' + b"x" * 1000 + b'"}'


@dataclass(frozen=True)
class ChainFigures:
    in_flight: int
    chains: int  # measured under load, after a warm-up
    seconds: float
    alone_ms: tuple[float, ...]  # one chain at a time, each from its publish to its last hop's message
    queue_type: str = "classic"  # the services' queue type (STOPPOC_QUEUE_TYPE), so both pay the same broker

    @property
    def chains_per_second(self) -> float:
        return self.chains / self.seconds

    @property
    def hops_per_second(self) -> float:
        return self.chains_per_second * HOPS

    @property
    def alone_p50_ms(self) -> float:
        return statistics.median(self.alone_ms)

    @property
    def hop_ms(self) -> float:
        """Unloaded latency of one hop: a lone chain's median over its hops."""
        return self.alone_p50_ms / HOPS


class BareChain:
    def __init__(
        self, amqp_url: str, database_url: str, namespace: str, in_flight: int, queue_type: str = "classic"
    ) -> None:
        self._amqp_url = amqp_url
        self._queue_type = queue_type
        self._database_url = database_url
        self._prefix = f"{namespace}.bare"
        self._in_flight = in_flight
        self._ends: dict[str, asyncio.Future[None]] = {}
        self._consumers: dict[str, str] = {}  # queue name -> consumer tag
        self._claim = SQL["claim_bare_inbox"]

    def _queue(self, hop: int) -> str:
        return f"{self._prefix}.hop{hop}" if hop <= HOPS else f"{self._prefix}.done"

    async def measure(self, chains: int, alone: int) -> ChainFigures:
        async with await aio_pika.connect(self._amqp_url) as connection:
            pool: asyncpg.Pool = await asyncpg.create_pool(self._database_url, min_size=POOL_SIZE, max_size=POOL_SIZE)
            try:
                channel = await connection.channel(publisher_confirms=True)
                await channel.set_qos(prefetch_count=self._in_flight)
                exchange = await channel.declare_exchange(self._prefix, aio_pika.ExchangeType.TOPIC, durable=True)
                queues: list[AbstractQueue] = []
                try:
                    queues = await self._prepare(pool, channel, exchange)
                    await self._run(exchange, self._in_flight * 2, self._in_flight)  # warm-up
                    started = time.perf_counter()
                    await self._run(exchange, chains, self._in_flight)
                    seconds = time.perf_counter() - started
                    alone_ms = [await self._one(exchange) for _ in range(alone)]
                finally:
                    for queue in queues:
                        await queue.cancel(self._consumers[queue.name])
                        await queue.delete(if_unused=False, if_empty=False)
                    await exchange.delete()
            finally:
                await pool.close()
        return ChainFigures(self._in_flight, chains, seconds, tuple(alone_ms), self._queue_type)

    async def _prepare(
        self, pool: asyncpg.Pool, channel: AbstractChannel, exchange: AbstractExchange
    ) -> list[AbstractQueue]:
        async with pool.acquire() as conn:
            await SQL.bind(conn).create_bare_chain_schema()
            await SQL.bind(conn).create_bare_chain_inbox()
        queues = []
        for hop in range(1, HOPS + 2):
            # A quorum queue hands a message on once a majority of its nodes wrote it to disk (here,
            # the one node): a classic queue at once. The services' type, so the ratio compares
            # like with like.
            arguments: FieldTable = {"x-queue-type": self._queue_type}
            queue = await channel.declare_queue(self._queue(hop), durable=True, arguments=arguments)
            await queue.bind(exchange, routing_key=self._queue(hop))
            handle = self._hop(pool, exchange, hop) if hop <= HOPS else self._end
            self._consumers[queue.name] = await queue.consume(handle)
            queues.append(queue)
        return queues

    def _hop(
        self, pool: asyncpg.Pool, exchange: AbstractExchange, hop: int
    ) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        next_queue, kind = self._queue(hop + 1), f"hop{hop}"

        async def handle(message: AbstractIncomingMessage) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await self._claim.run(conn, {"message_id": message.message_id, "type": kind})
            await exchange.publish(_message(message.correlation_id), routing_key=next_queue)
            await message.ack()

        return handle

    async def _end(self, message: AbstractIncomingMessage) -> None:
        await message.ack()
        end = self._ends.pop(message.correlation_id or "", None)
        if end is not None and not end.done():
            end.set_result(None)

    async def _one(self, exchange: AbstractExchange) -> float:
        """One chain, start to end, in milliseconds."""
        chain_id = uuid.uuid4().hex
        end = self._ends[chain_id] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        await exchange.publish(_message(chain_id), routing_key=self._queue(1))
        await asyncio.wait_for(end, 30)
        return (time.perf_counter() - started) * 1000

    async def _run(self, exchange: AbstractExchange, chains: int, in_flight: int) -> None:
        remaining = iter(range(chains))

        async def lane() -> None:
            for _ in remaining:  # the lanes share one iterator: `chains` in all
                await self._one(exchange)

        await asyncio.gather(*(lane() for _ in range(in_flight)))


def _message(chain_id: str | None) -> aio_pika.Message:
    return aio_pika.Message(
        BODY,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=uuid.uuid4().hex,
        correlation_id=chain_id,
        content_type="application/json",
    )
