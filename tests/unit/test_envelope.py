"""Every message reads cleanly with the official CloudEvents SDK."""

import json

import pytest
from cloudevents.core.bindings import amqp

from stoppoc.contract.base import MAX_ID_LENGTH
from stoppoc.contract.envelope import (
    CONTENT_TYPE,
    MAX_TRACESTATE_LENGTH,
    Envelope,
    new_envelope,
    routing_key_for,
    type_for,
)
from stoppoc.contract.errors import InvalidEnvelope
from stoppoc.contract.events import ClusterPocStopped
from stoppoc.shared.unit_of_work import envelope_for


def read_with_sdk(envelope: Envelope):
    message = amqp.AMQPMessage(
        properties={"content-type": CONTENT_TYPE}, application_properties={}, application_data=envelope.to_json()
    )
    return amqp.from_amqp_event(message)


def test_an_emitted_event_is_a_cloudevent_with_the_contract_attributes():
    cause = new_envelope("inventory.stop_poc.request", {"request_id": "req-1"}, source="/portal", correlationid="req-1")
    stopped = ClusterPocStopped(
        request_id="req-1", customer_id="cus", cluster_id="cl-9", rounds=1, stopped_at="2026-01-01T00:00:00Z"
    )
    envelope = envelope_for(stopped, source="/stoppoc/inventory", cause=cause)

    event = read_with_sdk(envelope)

    assert event.get_type() == "stoppoc.cluster.poc_stopped.v1"
    assert event.get_source() == "/stoppoc/inventory"
    assert event.get_subject() == "cl-9"
    assert event.get_id() == envelope.id
    assert event.get_time().tzinfo is not None
    assert event.get_extension("correlationid") == "req-1"
    assert event.get_extension("causationid") == cause.id
    assert event.get_data()["rounds"] == 1


def test_the_type_names_the_routing_key_and_version():
    assert type_for("payment.settled") == "stoppoc.payment.settled.v1"
    assert routing_key_for("stoppoc.inventory.stop_poc.request.v1") == "inventory.stop_poc.request"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"specversion": "0.3", "id": "x", "source": "/s", "type": "t", "time": "2026-01-01T00:00:00Z"}',
        b'{"specversion": "1.0", "source": "/s", "type": "t", "time": "2026-01-01T00:00:00Z"}',
    ],
)
def test_a_body_that_is_not_a_cloudevent_is_refused_with_a_reason(body):
    with pytest.raises(InvalidEnvelope) as refused:
        Envelope.parse(body)
    assert str(refused.value)


def attributes(**overrides) -> bytes:
    envelope = {"specversion": "1.0", "id": "m-1", "source": "/portal", "type": "stoppoc.payment.wallet.credit.v1"}
    return json.dumps({**envelope, "time": "2026-01-01T00:00:00Z", "data": {}, **overrides}).encode()


@pytest.mark.parametrize(
    "attribute", ["id", "source", "type", "subject", "correlationid", "causationid", "traceparent"]
)
def test_the_id_like_attributes_have_the_contract_id_limits(attribute):
    assert getattr(Envelope.parse(attributes(**{attribute: "x" * MAX_ID_LENGTH})), attribute) == "x" * MAX_ID_LENGTH
    with pytest.raises(InvalidEnvelope) as too_long:
        Envelope.parse(attributes(**{attribute: "x" * 100_000}))
    assert str(too_long.value) == f"{attribute}: String should have at most {MAX_ID_LENGTH} characters"
    with pytest.raises(InvalidEnvelope) as control:
        Envelope.parse(attributes(**{attribute: "m\x001"}))
    assert str(control.value).startswith(f"{attribute}: Value error, only printable ASCII")


def test_a_tracestate_is_bounded_as_w3c_bounds_it():
    members = ",".join(f"k{n}={'v' * 250}" for n in range(32))
    assert Envelope.parse(attributes(tracestate=members + " ,\tk=v")).tracestate
    with pytest.raises(InvalidEnvelope) as too_long:
        Envelope.parse(attributes(tracestate="v" * (MAX_TRACESTATE_LENGTH + 1)))
    assert str(too_long.value) == f"tracestate: String should have at most {MAX_TRACESTATE_LENGTH} characters"
    with pytest.raises(InvalidEnvelope):
        Envelope.parse(attributes(tracestate="k=v\n"))
