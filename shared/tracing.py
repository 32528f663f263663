"""OpenTelemetry traces across hops.

The trace context travels in the CloudEvents envelope (the distributed-tracing extension:
``traceparent`` and ``tracestate``), is stored with each outbox row and restored by the relay, so a
conversion is one trace from the portal's request to its final event, with the database calls
(asyncpg instrumentation) inside each hop.

Off unless configured, with the standard variables: ``OTEL_TRACES_EXPORTER`` (``otlp``,
``console``, ``otlp_json_file``; ``none``), ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OTLP over HTTP), ``OTEL_SERVICE_NAME``,
``OTEL_SDK_DISABLED``; or ``STOPPOC_TRACES_FILE`` (OTLP JSON lines in a file). While off, every
call here costs next to nothing and envelopes carry the context they came with, if any. Only the
OTLP/HTTP protobuf exporter is installed: ``OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`` set to anything
else (``grpc``) is refused rather than ignored, since the HTTP exporter would talk to a gRPC port.
"""

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from stoppoc.shared.logging import get_logger

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACER = trace.get_tracer("stoppoc")
_configured: list[Any] = []  # the SDK's provider once set up (one per process)

__all__ = [
    "TracingConfigurationError",
    "consuming",
    "current_trace_id",
    "exporters_asked_for",
    "publishing",
    "quiet",
    "shutdown",
    "trace_context",
]

EXPORTERS = ("otlp", "console", "otlp_json_file", "none")
# The one OTLP protocol whose exporter is installed (opentelemetry-exporter-otlp-proto-http).
OTLP_PROTOCOL = "http/protobuf"


class TracingConfigurationError(ValueError):
    """The OTEL_* variables ask for what this installation cannot do."""


def exporters_asked_for(traces_file: str | None = None) -> list[str]:
    """The exporters the environment asks for; empty: tracing stays off. Raises
    ``TracingConfigurationError`` for an exporter or OTLP protocol that is not supported."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    if unknown := [n for n in names if n not in EXPORTERS]:
        raise TracingConfigurationError(
            f"OTEL_TRACES_EXPORTER={','.join(unknown)} is not one of {', '.join(EXPORTERS)}"
        )
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not names and endpoint:
        names = ["otlp"]
    names = [n for n in names if n != "none"]
    if "otlp" in names:
        _check_otlp_protocol()
    if traces_file:
        names.append("file")
    return names


def _check_otlp_protocol() -> None:
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = os.environ.get(variable, "").strip()
        if protocol:
            if protocol != OTLP_PROTOCOL:
                raise TracingConfigurationError(
                    f"{variable}={protocol} is not supported: stoppoc exports OTLP over HTTP only"
                    f" ({OTLP_PROTOCOL}, to the collector's HTTP port, usually 4318)"
                )
            return  # the traces-specific variable overrides the general one


def configure(service_name: str, traces_file: str | None = None) -> bool:
    """Set up the SDK once for this process when an exporter is asked for. True if tracing is on."""
    if _configured:
        return True
    exporters = exporters_asked_for(traces_file)
    if not exporters:
        return False
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name})
    provider = TracerProvider(resource=resource)
    for name in exporters:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name, traces_file)))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    _configured.append(provider)
    get_logger("stoppoc.tracing").info("tracing on", exporters=exporters, service_name=service_name)
    return True


def _exporter(name: str, traces_file: str | None) -> Any:
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name in ("otlp_json_file", "file"):
        from opentelemetry.exporter.otlp.json.file.trace_exporter import FileSpanExporter

        return FileSpanExporter(traces_file) if name == "file" and traces_file else FileSpanExporter()
    raise TracingConfigurationError(f"OTEL_TRACES_EXPORTER={name} is not one of {', '.join(EXPORTERS)}")


def shutdown() -> None:
    """Export what is buffered (at the end of ``stoppoc run``)."""
    for provider in _configured:
        provider.shutdown()
    _configured.clear()


def trace_context() -> dict[str, str]:
    """The current span's context as CloudEvents extension attributes (``traceparent``,
    ``tracestate``); empty when there is no span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def _parent(traceparent: str | None, tracestate: str | None) -> otel_context.Context:
    carrier = {"traceparent": traceparent or "", "tracestate": tracestate or ""}
    return _PROPAGATOR.extract({key: value for key, value in carrier.items() if value})


@contextlib.contextmanager
def consuming(
    service: str, routing_key: str, traceparent: str | None, tracestate: str | None, **attributes: Any
) -> Iterator[Span]:
    """The span of one message handled by ``service``, a child of the hop that sent it."""
    with _TRACER.start_as_current_span(
        f"{routing_key} process",
        context=_parent(traceparent, tracestate),
        kind=SpanKind.CONSUMER,
        attributes=_attributes(service, routing_key, attributes),
    ) as span:
        yield span


@contextlib.contextmanager
def publishing(service: str, routing_key: str, traceparent: str | None, **attributes: Any) -> Iterator[Span]:
    """The span of one outbox row published by the relay, a child of the hop that wrote it."""
    with _TRACER.start_as_current_span(
        f"{routing_key} publish",
        context=_parent(traceparent, None),
        kind=SpanKind.PRODUCER,
        attributes=_attributes(service, routing_key, attributes),
    ) as span:
        yield span


def _attributes(service: str, routing_key: str, extra: dict[str, Any]) -> dict[str, Any]:
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.rabbitmq.destination.routing_key": routing_key,
        "stoppoc.service": service,
    }
    attributes.update({f"stoppoc.{key}": value for key, value in extra.items() if value is not None})
    return attributes


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No spans for what runs inside: the relay's polls and the periodic tasks' ticks would
    otherwise be a stream of database spans belonging to no conversion."""
    with suppress_instrumentation():
        yield
