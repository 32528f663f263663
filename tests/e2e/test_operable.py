"""Operating the services as an operator would: ``stoppoc run all`` with ``STOPPOC_HTTP_PORT``
answers the three endpoints, and after a batch of conversions and poison messages ``/metrics``
shows the conversions by outcome, the dead letters by error and an outbox backlog of zero. And a
conversion is one trace across the four service processes."""

import asyncio
import contextlib
import json
import signal
import subprocess
import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from stoppoc.client import StopPocClient
from stoppoc.contract.commands import StopPocRequest
from tests.contract_data import SampleCluster, handled, unique_id, wait_until
from tests.e2e.processes import ServiceProcesses, free_port, http_get, readiness
from tests.receivers import WebhookReceiver

pytestmark = pytest.mark.e2e

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

SERVICES = ("inventory", "checkout", "payment", "notifier")


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    """/metrics as {(sample name, labels): value}, read with Prometheus' own parser."""
    status, text = http_get(port, "/metrics")
    assert status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def fund_and_press(client, cluster: SampleCluster, funds: int) -> str:
    await cluster.register(client)
    reference = unique_id("topup")
    await client.send(
        "payment.wallet.credit", {"customer_id": cluster.customer_id, "amount": funds, "reference": reference}
    )
    await client.wait_for("wallet.credited", lambda d: d["reference"] == reference)
    request = cluster.stop_request()
    await client.send("inventory.stop_poc.request", request)
    return request["request_id"]


async def test_run_all_serves_probes_and_metrics_that_count_a_batch_and_its_poison(
    settings, client, names, database, tmp_path
):
    port = free_port()
    process = run_all(
        settings,
        tmp_path,
        STOPPOC_HTTP_PORT=str(port),
        STOPPOC_MAX_MESSAGE_BYTES="4096",
        STOPPOC_WEBHOOK_ALLOW_PRIVATE="true",
    )
    receiver, serving_webhooks = WebhookReceiver(), contextlib.AsyncExitStack()
    try:
        await serving_webhooks.enter_async_context(receiver.running())
        await wait_until(lambda: _ready(port, process), timeout=60, what="/health/ready 200")
        status, body = await readiness(port)
        assert status == 200 and set(body["services"]) == set(SERVICES)
        assert all(check["ok"] for each in body["services"].values() for check in each.values())
        assert http_get(port, "/health/live")[0] == 200
        assert http_get(port, "/nowhere")[0] == 404

        rich = [SampleCluster() for _ in range(3)]
        broke = SampleCluster()
        # One customer hears of its conversion by webhook: stoppoc_notifications_total moves.
        hooked = await client.send(
            "notifier.contact.upsert",
            {"customer_id": rich[0].customer_id, "webhook_url": receiver.url, "webhook_secret": WEBHOOK_SECRET},
        )
        await wait_until(lambda: handled(database, "notifier", hooked.id), what="the contact stored")
        requests = [await fund_and_press(client, cluster, 50_000_000) for cluster in rich]
        requests.append(await fund_and_press(client, broke, 1_000))
        await client.publish(names.commands, "inventory.stop_poc.request", b'{"not": json', message_id="poison-1")
        await client.publish(names.commands, "payment.wallet.credit", b"x" * 5000, message_id="poison-2")
        outcomes = await client.wait_for_outcomes(requests, timeout=60)
        assert sorted(e.routing_key for e in outcomes.values()) == ["cluster.poc_stopped"] * 3 + ["stop_poc.failed"]
        settled = sum(e.data["amount"] for e in client.seen("payment.settled"))

        async def counted() -> bool:
            samples = scrape(port)
            return (
                value(samples, "stoppoc_conversions_total", outcome="cluster.poc_stopped") == 3
                and value(samples, "stoppoc_dead_letters_total", service="payment", error="message_too_large") == 1
                and all(value(samples, "stoppoc_outbox_pending", service=s) == 0 for s in SERVICES)
                and value(
                    samples,
                    "stoppoc_messages_handled_total",
                    service="notifier",
                    routing_key="stop_poc.failed",
                    outcome="acknowledged",
                )
                == 1
                and value(samples, "stoppoc_notifications_total", channel="webhook", status="delivered") >= 1
            )

        await wait_until(counted, timeout=15, what="the batch counted in /metrics")
        assert receiver.received
        samples = scrape(port)
        assert value(samples, "stoppoc_conversions_total", outcome="stop_poc.failed") == 1
        assert value(samples, "stoppoc_settled_vnd_total", kind="conversion") == settled > 0
        assert value(samples, "stoppoc_dead_letters_total", service="inventory", error="invalid_envelope") == 1
        # Dead-lettered counts as dead-lettered, not as acknowledged.
        poison = {"service": "inventory", "routing_key": "inventory.stop_poc.request"}
        assert value(samples, "stoppoc_messages_handled_total", **poison, outcome="dead_lettered") == 1
        assert value(samples, "stoppoc_messages_handled_total", **poison, outcome="acknowledged") == 4
        assert all(value(samples, "stoppoc_outbox_oldest_age_seconds", service=s) == 0 for s in SERVICES)
        assert (
            value(
                samples, "stoppoc_message_handling_seconds_count", service="checkout", routing_key="stop_poc.requested"
            )
            == 4
        )
        assert value(samples, "stoppoc_ready", service="payment") == 1
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 40)
        await serving_webhooks.aclose()
    assert code == 0, (tmp_path / "all.log").read_text()[-3000:]


def run_all(settings, log_dir, **env: str) -> subprocess.Popen:
    """``stoppoc run all``: the four services in one process, as the image runs them."""
    with (log_dir / "all.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "stoppoc.cli", "run", "all", "--no-migrate"],
            env={**ServiceProcesses(settings, log_dir).environment(), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def _ready(port: int, process: subprocess.Popen) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"stoppoc run all exited {process.returncode}")
    return (await readiness(port))[0] == 200


async def test_a_conversions_spans_share_one_trace_id_across_the_four_processes(settings, client, database, tmp_path):
    services = ServiceProcesses(settings, tmp_path, extra_env={"STOPPOC_TRACES_FILE": str(tmp_path / "{name}.spans")})
    await services.start()
    try:
        cluster = SampleCluster()
        await cluster.register(client)
        reference = unique_id("topup")
        await client.send(
            "payment.wallet.credit", {"customer_id": cluster.customer_id, "amount": 50_000_000, "reference": reference}
        )
        await client.wait_for("wallet.credited", lambda d: d["reference"] == reference)
        # The portal's request, sent through the portal's client inside a span of the portal's own.
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        request = cluster.stop_request()
        async with StopPocClient(settings.amqp_url, settings.namespace) as portal:
            with provider.get_tracer("portal").start_as_current_span("stop poc pressed"):
                outcome = await portal.stop_poc(StopPocRequest.model_validate(request), timeout=60)
        await client.wait_for("resources.converted", lambda d: d["request_id"] == request["request_id"])
        await wait_until(
            lambda: handled(database, "notifier", outcome.envelope.id), what="the notifier done with the outcome"
        )
        [pressed] = exporter.get_finished_spans()
        portal_trace = format(pressed.context.trace_id, "032x")
        assert outcome.envelope.traceparent is not None
        assert outcome.envelope.traceparent.split("-")[1] == portal_trace
    finally:
        codes = await services.stop()  # exporting what is buffered
    assert all(code == 0 for code in codes.values())

    spans = [span for name in SERVICES for span in read_spans(tmp_path / f"{name}.spans")]
    of_request = [s for s in spans if s["attributes"].get("stoppoc.correlation_id") == request["request_id"]]
    assert {s["attributes"]["stoppoc.service"] for s in of_request} == set(SERVICES)
    assert {s["traceId"] for s in of_request} == {portal_trace}
    # The portal's span is the root: the first hop is its child.
    assert pressed.parent is None
    [first_hop] = [s for s in of_request if s["name"] == "inventory.stop_poc.request process"]
    assert first_hop["parentSpanId"] == format(pressed.context.span_id, "016x")
    # Each hop: consumed, and what it emitted published, in the trace; the database calls inside.
    kinds = {(s["attributes"]["stoppoc.service"], s["name"]) for s in of_request}
    assert {
        ("inventory", "inventory.stop_poc.request process"),
        ("checkout", "stop_poc.requested process"),
        ("payment", "order.created process"),
        ("inventory", "payment.settled process"),
        ("notifier", "cluster.poc_stopped process"),
        ("payment", "payment.settled publish"),
    } <= kinds
    consumed = {s["spanId"] for s in of_request if s["name"] == "order.created process"}
    database = [s for s in spans if s.get("parentSpanId") in consumed and s["kind"] == 3]  # CLIENT
    assert database and all(s["traceId"] == portal_trace for s in database)


def read_spans(path) -> list[dict]:
    """OTLP JSON lines: resourceSpans → scopeSpans → spans, attributes flattened."""
    spans = []
    for line in path.read_text().splitlines():
        for resource in json.loads(line)["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    attributes = {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", [])}
                    spans.append({**span, "attributes": attributes})
    return spans
