"""Every message reads cleanly with the official CloudEvents SDK."""

import pytest
from cloudevents.core.bindings import amqp

from stoppoc.contract.envelope import CONTENT_TYPE, Envelope, new_envelope, routing_key_for, type_for
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
