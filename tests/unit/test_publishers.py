"""Who publishes what is said once (stoppoc.contract.publishers) and agrees with the services'
code, the contract's document and the broker's definitions file."""

import ast
import json
import re
from pathlib import Path

from stoppoc.contract import COMMANDS, EVENTS, commands, events, replies
from stoppoc.contract.publishers import CLIENT_SENDS, REQUESTS, SERVICE_PUBLISHES, producer_of
from stoppoc.services import registry
from stoppoc.services.registry import SERVICES
from stoppoc.shared import broker_access
from stoppoc.shared.topology import Names

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = {**commands.BY_ROUTING_KEY, **events.BY_ROUTING_KEY, **replies.COMMANDS}
ROUTING_KEY_OF_MODEL = {model.__name__: key for key, model in MESSAGES.items()}


def constructed_by(service: str) -> set[str]:
    """The routing keys of the contract messages a service's code builds (``OrderCreated(...)``):
    what it can emit or forward. Replies go to a caller's queue, not to an exchange."""
    built = set()
    for path in (ROOT / "services" / service).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ROUTING_KEY_OF_MODEL:
                built.add(ROUTING_KEY_OF_MODEL[node.func.id])
    return built


def test_every_service_publishes_only_what_the_mapping_allows():
    for service in SERVICES:
        emitted = constructed_by(service)
        assert emitted <= SERVICE_PUBLISHES[service], f"{service} emits {emitted - SERVICE_PUBLISHES[service]}"
    assert "payment.wallet.credit" in constructed_by("inventory")  # refunds: the scan sees commands too


def test_every_event_has_exactly_one_producer_and_every_command_a_sender():
    for event in EVENTS:
        assert [s for s in SERVICES if event in SERVICE_PUBLISHES[s]] == [producer_of(event)]
    senders = {key for keys in (*SERVICE_PUBLISHES.values(), *CLIENT_SENDS.values()) for key in keys}
    assert set(COMMANDS) <= senders, f"nobody may send {set(COMMANDS) - senders}"
    assert senders <= set(COMMANDS) | set(EVENTS), f"not in the contract: {senders - set(COMMANDS) - set(EVENTS)}"


def test_the_contract_documents_the_same_producers():
    table = (ROOT / "docs" / "contract.md").read_text()
    documented = dict(re.findall(r"^\| `([a-z_.]+)` \| (inventory|checkout|payment|notifier) \|", table, re.MULTILINE))
    assert documented, "no producer column found in docs/contract.md"
    assert documented == {event: producer_of(event) for event in documented}


def test_the_services_answering_requests_are_those_the_requests_are_addressed_to():
    for service in SERVICES:
        handlers = registry.definition(service).registry._by_type.values()
        answered = {h.routing_key for h in handlers if h.query}
        assert answered == {r for r in REQUESTS if r.split(".", 1)[0] == service}


def test_the_committed_broker_definitions_are_those_the_code_makes():
    committed = json.loads((ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text())
    assert committed == broker_access.definitions(Names("stoppoc"), registry.topology()), "run: stoppoc generate"
    assert "users" not in committed  # passwords never in the repository


def test_every_user_has_topic_permissions_on_every_topic_exchange():
    # Without one, RabbitMQ would let that user publish any routing key on the exchange.
    names = Names("stoppoc")
    document = broker_access.definitions(names, registry.topology())
    covered = {(entry["user"], entry["exchange"]) for entry in document["topic_permissions"]}
    users = {entry["user"] for entry in document["permissions"]}
    topic_exchanges = (names.commands, names.events, names.dead_letters)
    assert covered == {(user, exchange) for user in users for exchange in topic_exchanges}


def test_a_service_may_dead_letter_only_into_its_own_queue_and_nobody_writes_the_brokers_dlx():
    names = Names("stoppoc")
    document = broker_access.definitions(names, registry.topology())
    topics = document["topic_permissions"]
    dead_letter_keys = {entry["user"]: entry["write"] for entry in topics if entry["exchange"] == names.dead_letters}
    for service in SERVICES:
        assert dead_letter_keys.pop(f"stoppoc-{service}") == f"^(stoppoc\\.{service})$"
    assert set(dead_letter_keys.values()) == {""}  # no one else dead-letters
    # NS.dlx is direct: a write there could go to any dead-letter queue. Only the deployer may,
    # as RabbitMQ asks of whoever declares a queue dead-lettering into it.
    writers = {entry["user"] for entry in document["permissions"] if "stoppoc\\.dlx" in entry["write"]}
    assert writers == {"stoppoc-deployer"}
