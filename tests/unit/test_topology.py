"""Bindings are derived from the handlers: every command and event of the contract reaches the
service that handles it, and nothing is left that no one takes unless it is marked as leaving."""

import pytest

from stoppoc.contract import COMMANDS, EVENTS
from stoppoc.contract.events import FOR_SUBSCRIBERS
from stoppoc.services import registry
from stoppoc.shared.topology import Names, QueueBindings, QueueOptions

# Commands of the contract whose handler is being built; empty when every command has one.
AWAITING_A_HANDLER: set[str] = set()


@pytest.fixture(scope="module")
def topology():
    return registry.topology()


def consumers(topology, exchange: str, routing_key: str) -> list[str]:
    return sorted(service for service, bound in topology.items() if bound.receives(exchange, routing_key))


def test_every_command_reaches_exactly_the_service_it_is_addressed_to_which_handles_it(topology):
    for routing_key in COMMANDS:
        service = routing_key.split(".")[0]
        assert consumers(topology, "commands", routing_key) == [service], routing_key
        handled = routing_key in registry.definition(service).registry.routing_keys
        assert handled or routing_key in AWAITING_A_HANDLER, f"{service} has no handler for {routing_key}"


def test_every_event_is_consumed_by_a_service_or_marked_as_leaving_the_system(topology):
    for routing_key in EVENTS:
        consumed = consumers(topology, "events", routing_key)
        if routing_key in FOR_SUBSCRIBERS:
            assert not consumed, f"{routing_key} is marked for subscribers only, yet {consumed} consume it"
        else:
            assert consumed, f"no service consumes {routing_key}: handle it, or mark it in FOR_SUBSCRIBERS"


def test_each_handler_is_its_own_binding(topology):
    for service in registry.SERVICES:
        handled = registry.definition(service).registry.routing_keys
        for routing_key in handled:
            exchange = "commands" if routing_key in COMMANDS else "events"
            assert service in consumers(topology, exchange, routing_key), (service, routing_key)


def test_a_handler_for_a_key_outside_the_contract_is_refused():
    with pytest.raises(ValueError, match="does not define"):
        QueueBindings.of("payment", ["payment.wallet.credit", "payment.wallet.steal"])


def test_a_command_handled_by_a_service_it_is_not_addressed_to_is_refused():
    with pytest.raises(ValueError, match="addressed to another service"):
        QueueBindings.of("notifier", ["payment.wallet.credit"])


def test_a_service_binds_its_commands_by_address_and_its_events_one_by_one():
    bindings = QueueBindings.of("checkout", ["checkout.coupon.upsert", "stop_poc.requested", "payment.settled"])
    assert bindings == QueueBindings(commands=("checkout.#",), events=("payment.settled", "stop_poc.requested"))
    assert bindings.receives("commands", "checkout.anything.new")  # dead-lettered as unknown_type, not lost
    assert not bindings.receives("events", "payment.failed")


def test_quorum_queues_carry_the_services_delivery_limit_and_at_least_once_dead_lettering():
    names = Names("ns")
    quorum = QueueOptions("quorum", max_deliveries=5).service_queue(names, "ns.payment")
    assert quorum == {
        "x-dead-letter-exchange": "ns.dlx",
        "x-dead-letter-routing-key": "ns.payment",
        "x-queue-type": "quorum",
        "x-delivery-limit": 5,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert QueueOptions("quorum").dead_letter_queue() == {"x-queue-type": "quorum"}  # no limit: listing is free
    classic = QueueOptions("classic").service_queue(names, "ns.payment")
    assert classic == {"x-dead-letter-exchange": "ns.dlx", "x-dead-letter-routing-key": "ns.payment"}
