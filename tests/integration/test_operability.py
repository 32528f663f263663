"""What operators read while something is wrong: the relay's and the periodic tasks' log lines name
the message, conversion and trace they are about, and readiness names the broker while it is away."""

import asyncio
import io
import json
import os
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
from faststream.rabbit import RabbitBroker

from stoppoc.cli import runner
from stoppoc.contract.envelope import type_for
from stoppoc.contract.events import StopPocRejected
from stoppoc.services.payment.queries import QUERIES
from stoppoc.shared import db, topology
from stoppoc.shared.logging import configure
from stoppoc.shared.outbox import OutboxRelay
from stoppoc.shared.periodic import PeriodicRunner, PeriodicTask
from tests.contract_data import publish_event, unique_id, wait_until
from tests.e2e.processes import readiness
from tests.integration.test_notifier import SECRET, contact, conversion, deliveries, rejected
from tests.receivers import WebhookReceiver

pytestmark = pytest.mark.integration

TRACE_ID = os.urandom(16).hex()
TRACEPARENT = f"00-{TRACE_ID}-{os.urandom(8).hex()}-01"


@pytest.fixture
def log_lines():
    """The JSON lines logged during the test."""
    stream = io.StringIO()
    configure("INFO", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    configure("INFO")


def logged(lines, event: str) -> list[dict]:
    return [line for line in lines() if line["event"] == event]


async def test_a_relay_that_cannot_publish_logs_the_row_is_not_ready_and_recovers(settings, names, database, log_lines):
    """The namespace's exchanges do not exist yet: the broker refuses the row."""
    message_id, request_id = unique_id("message"), unique_id("request")
    await database.execute(
        "INSERT INTO payment.outbox (message_id, exchange, routing_key, body, traceparent, correlation_id)"
        " VALUES ($1, 'events', 'stop_poc.rejected', '{}', $2, $3)",
        message_id,
        TRACEPARENT,
        request_id,
    )
    broker = RabbitBroker(settings.amqp_url)
    pool = await db.create_pool(settings.database_url, "payment", min_size=1, max_size=2)
    relay = OutboxRelay(pool, broker, names, 0.2, "payment")
    try:
        await broker.connect()
        relay.start()
        await wait_until(lambda: _logged_soon(log_lines, "outbox publish failed"), what="the failure logged")
        health = relay.health()
        await topology.declare_at(settings.amqp_url, names, {})  # the exchanges, now
        await wait_until(lambda: _published(database, message_id), what="the row published once the exchange exists")
        # The round that stamped it clears the error once its transaction is done: a moment later.
        await wait_until(lambda: _healthy(relay), what="the relay ready again after it published")
    finally:
        await relay.stop(timeout=5)
        await broker.stop()
        await pool.close()

    [failed, *_] = logged(log_lines, "outbox publish failed")
    assert (failed["logger"], failed["level"], failed["service"]) == ("stoppoc.outbox", "warning", "payment")
    assert (failed["message_id"], failed["correlation_id"], failed["trace_id"]) == (message_id, request_id, TRACE_ID)
    assert failed["routing_key"] == "stop_poc.rejected" and "NOT_FOUND" in failed["error"]
    assert not health["ok"] and health["detail"].startswith("the outbox relay cannot publish")


async def _healthy(relay: OutboxRelay) -> bool:
    return relay.health() == {"ok": True}


async def _logged_soon(log_lines, event: str) -> bool:
    return bool(logged(log_lines, event))


async def _published(database, message_id: str) -> bool:
    query = "SELECT published_at IS NOT NULL FROM payment.outbox WHERE message_id = $1"
    return bool(await database.fetchval(query, message_id))


async def test_a_periodic_tasks_lines_carry_the_ids_of_what_it_emitted(settings, names, log_lines):
    request_id = unique_id("request")
    rejected = StopPocRejected(request_id=request_id, customer_id="c-1", cluster_id="k-1", reason="r", detail="d")

    async def emits(uow) -> None:
        await uow.emit(rejected, trace={"traceparent": TRACEPARENT})

    async def emits_then_breaks(uow) -> None:
        await emits(uow)
        raise RuntimeError("the task broke")

    broker = RabbitBroker(settings.amqp_url)
    pool = await db.create_pool(settings.database_url, "payment", min_size=1, max_size=2)
    relay = OutboxRelay(pool, broker, names, 0.2, "payment")  # woken, never started
    tasks = [PeriodicTask("emits", emits), PeriodicTask("breaks", emits_then_breaks)]
    periodic = PeriodicRunner(tasks, pool, QUERIES, "/tests/periodic", settings, relay)
    try:
        periodic.start()
        for event in ("periodic task emitted", "periodic task failed"):
            await wait_until(lambda event=event: _logged_soon(log_lines, event), what=event)
    finally:
        await periodic.stop()
        await pool.close()

    [emitted, *_] = logged(log_lines, "periodic task emitted")
    [failed, *_] = logged(log_lines, "periodic task failed")
    for line, task in ((emitted, "emits"), (failed, "breaks")):
        assert (line["logger"], line["task"]) == ("stoppoc.periodic", task)
        assert (line["correlation_id"], line["trace_id"]) == (request_id, TRACE_ID)
        assert line["message_id"]
    assert emitted["emitted"] == type_for("stop_poc.rejected")
    assert "RuntimeError: the task broke" in failed["exception"]


class TcpProxy:
    """Forwards a local port to the broker; stopped, the broker is unreachable through it."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.close()
            self._writers.clear()
            await self._server.wait_closed()
            self._server = None

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        broker_reader, broker_writer = await asyncio.open_connection(*self.target)
        self._writers += [client_writer, broker_writer]
        await asyncio.gather(
            _copy(client_reader, broker_writer), _copy(broker_reader, client_writer), return_exceptions=True
        )


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def test_readiness_names_the_broker_while_it_is_unreachable_and_is_ready_again_when_it_is_back(settings):
    url = urlsplit(settings.amqp_url)
    proxy = TcpProxy(url.hostname or "127.0.0.1", url.port or 5672)
    await proxy.start()
    through_proxy = urlunsplit(url._replace(netloc=f"{url.netloc.rsplit('@', 1)[0]}@127.0.0.1:{proxy.port}"))
    settings = settings.model_copy(update={"amqp_url": through_proxy, "http_port": 0})
    apps = runner.build(settings, ["payment"])
    try:
        async with runner.serving(settings, [a.runtime for a in apps]) as server, runner.running_apps(apps):
            assert server is not None
            await wait_until(lambda: _status_is(server.port, 200), what="ready")
            await proxy.stop()
            await wait_until(lambda: _status_is(server.port, 503), what="not ready without the broker")
            _, away = await readiness(server.port)
            await proxy.start()
            await wait_until(lambda: _status_is(server.port, 200), timeout=30, what="ready with the broker back")
    finally:
        await proxy.stop()

    broker = away["services"]["payment"]["broker"]
    assert not broker["ok"] and "RabbitMQ" in broker["detail"]
    assert away["services"]["payment"]["database"] == {"ok": True}


async def _status_is(port: int, status: int) -> bool:
    return (await readiness(port))[0] == status


async def test_the_notifier_stops_within_its_budget_while_a_webhook_attempt_hangs(settings, client, database):
    """The webhook's own timeout (30 s here) is longer than the shutdown's budget (1 s here): the
    attempt is cut short at the budget, and made again at the next start."""
    arrived, release = asyncio.Event(), asyncio.Event()

    async def hang(_) -> None:
        arrived.set()
        await release.wait()

    receiver = WebhookReceiver(before_answer=hang)
    settings = settings.model_copy(
        update={"webhook_allow_private": True, "webhook_timeout_seconds": 30, "graceful_timeout_seconds": 1}
    )
    customer = unique_id("cus")
    async with receiver.running():
        try:
            async with runner.running_apps(runner.build(settings, ["notifier"])):
                await contact(client, database, customer, webhook_url=receiver.url, webhook_secret=SECRET)
                await publish_event(client, "stop_poc.rejected", rejected(conversion(customer)))
                await asyncio.wait_for(arrived.wait(), 15)
                stopping = time.monotonic()
            took = time.monotonic() - stopping
        finally:
            release.set()

    assert took < 1 + 3  # the budget, and the rest of the shutdown (nothing to flush)
    [delivery] = await deliveries(database, customer)
    assert delivery["status"] == "pending"  # to be sent at the next start
