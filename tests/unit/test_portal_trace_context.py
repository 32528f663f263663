"""The portal's client sends the trace context of the portal's request with every command."""

from opentelemetry.sdk.trace import TracerProvider

from stoppoc.client import StopPocClient
from stoppoc.contract.commands import WalletCredit

CREDIT = WalletCredit(customer_id="c-1", amount=1_000, reference="topup-1")
GIVEN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_command_carries_the_traceparent_it_is_given_over_the_current_spans():
    client = StopPocClient("amqp://unused/")
    with TracerProvider().get_tracer("portal").start_as_current_span("pressed"):
        envelope = client._envelope(CREDIT, trace=(GIVEN, "vendor=1"))
    assert (envelope.traceparent, envelope.tracestate) == (GIVEN, "vendor=1")


def test_a_command_sent_inside_a_span_continues_its_trace():
    client = StopPocClient("amqp://unused/")
    with TracerProvider().get_tracer("portal").start_as_current_span("pressed") as span:
        envelope = client._envelope(CREDIT)
    assert envelope.traceparent is not None
    assert envelope.traceparent.split("-")[1:3] == [f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"]


def test_a_command_sent_outside_any_span_carries_no_trace_context():
    assert StopPocClient("amqp://unused/")._envelope(CREDIT).traceparent is None
