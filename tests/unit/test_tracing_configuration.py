"""Traces are configured by the standard OTEL_* variables: off when none is set, OTLP over HTTP
when an endpoint is, and a protocol this installation cannot speak is refused, not ignored."""

import pytest
from click.testing import CliRunner
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from stoppoc.cli.main import main
from stoppoc.shared import tracing

OTEL = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
)


@pytest.fixture(autouse=True)
def no_otel_variables(monkeypatch):
    for variable in OTEL:
        monkeypatch.delenv(variable, raising=False)


def test_with_no_variable_set_tracing_is_off():
    assert tracing.exporters_asked_for() == []
    assert tracing.configure("stoppoc-test") is False


def test_an_otlp_endpoint_turns_on_the_otlp_http_exporter(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing.exporters_asked_for() == ["otlp"]
    exporter = tracing._exporter("otlp", None)
    assert isinstance(exporter, OTLPSpanExporter)
    assert exporter._endpoint == "http://collector:4318/v1/traces"


@pytest.mark.parametrize("off", [{"OTEL_SDK_DISABLED": "true"}, {"OTEL_TRACES_EXPORTER": "none"}])
def test_disabled_or_no_exporter_keeps_tracing_off_despite_an_endpoint(monkeypatch, off):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    for variable, value in off.items():
        monkeypatch.setenv(variable, value)
    assert tracing.exporters_asked_for() == []


def test_the_traces_file_is_exported_to_even_with_no_variable_set():
    assert tracing.exporters_asked_for("/tmp/spans.jsonl") == ["file"]


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"])
def test_the_grpc_protocol_is_refused_rather_than_ignored(monkeypatch, variable):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    monkeypatch.setenv(variable, "grpc")
    with pytest.raises(tracing.TracingConfigurationError, match=f"{variable}=grpc is not supported"):
        tracing.exporters_asked_for()
    monkeypatch.setenv(variable, "http/protobuf")
    assert tracing.exporters_asked_for() == ["otlp"]


def test_stoppoc_run_exits_2_naming_the_unsupported_protocol(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    result = CliRunner().invoke(main, ["run", "payment"])
    assert result.exit_code == 2
    assert "bad configuration: OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported" in result.output


def test_an_unknown_exporter_is_refused(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(tracing.TracingConfigurationError, match="OTEL_TRACES_EXPORTER=zipkin"):
        tracing.exporters_asked_for()
