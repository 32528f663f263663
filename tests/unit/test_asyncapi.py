"""docs/asyncapi.json is the contract as the code has it."""

from pathlib import Path

from stoppoc.cli import generate
from stoppoc.contract import COMMANDS, EVENTS, REPLIES
from stoppoc.services.registry import topology
from stoppoc.shared.asyncapi import document

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "asyncapi.json"


def test_the_committed_generated_documents_are_those_the_code_makes():
    # docs/asyncapi.json and deploy/rabbitmq/definitions.json, both written by `stoppoc generate`.
    assert generate.stale(ROOT) == [], "run: stoppoc generate"


def test_every_command_event_and_reply_is_documented_with_its_cloudevents_type():
    messages = document(topology())["components"]["messages"]
    names = {message["name"] for message in messages.values()}
    for routing_key in [*COMMANDS, *EVENTS, *REPLIES]:
        assert f"stoppoc.{routing_key}.v1" in names
    settled = messages["payment_settled"]["payload"]["properties"]["data"]
    assert {"payment_id", "order_id", "amount", "balance_after"} <= set(settled["required"])
    assert settled["properties"]["amount"]["type"] == "integer"
