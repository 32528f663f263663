"""The contract as an AsyncAPI 3.0 document, generated from the pydantic models so the two
cannot drift apart (``stoppoc asyncapi``; ``docs/asyncapi.json`` is checked by a test)."""

from typing import Any

from pydantic import BaseModel

from shared.contract import COMMANDS, EVENTS, REPLIES
from shared.envelope import CONTENT_TYPE, type_for
from shared.topology import BINDINGS

_ENVELOPE = {
    "type": "object",
    "description": "CloudEvents 1.0, structured JSON",
    "required": ["specversion", "id", "source", "type", "time", "data"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "description": "unique; the idempotency key"},
        "source": {"type": "string"},
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"const": "application/json"},
        "subject": {"type": "string", "description": "the cluster id where there is one"},
        "correlationid": {"type": "string", "description": "the stop request id of the conversion"},
        "causationid": {"type": "string", "description": "the id of the message that caused this one"},
    },
}


def _name(routing_key: str) -> str:
    return routing_key.replace(".", "_")


def _message(routing_key: str, model: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The message object and the schemas its data refers to."""
    payload = {**_ENVELOPE, "properties": {**_ENVELOPE["properties"], "type": {"const": type_for(routing_key)},
                                           "data": model.model_json_schema(ref_template="#/components/schemas/{model}")}}
    defs = payload["properties"]["data"].pop("$defs", {})
    return {"name": type_for(routing_key), "contentType": CONTENT_TYPE, "title": model.__name__,
            "summary": (model.__doc__ or "").strip().split("\n")[0] or None, "payload": payload}, defs


def document(namespace: str = "stoppoc") -> dict[str, Any]:
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for exchange, catalogue in (("commands", COMMANDS), ("events", EVENTS)):
        for routing_key, model in sorted(catalogue.items()):
            message, defs = _message(routing_key, model)
            schemas.update(defs)
            name = _name(routing_key)
            messages[name] = message
            consumers = sorted(
                service for service, bound in BINDINGS.items()
                if any(_matches(pattern, routing_key) for pattern in bound.get(exchange, ()))
            )
            channels[name] = {
                "address": routing_key,
                "messages": {name: {"$ref": f"#/components/messages/{name}"}},
                "description": f"exchange {namespace}.{exchange}; consumed by {', '.join(consumers) or 'subscribers'}",
                "bindings": {"amqp": {"is": "routingKey", "exchange": {
                    "name": f"{namespace}.{exchange}", "type": "topic", "durable": True}}},
            }
            operations[f"send_{name}"] = {"action": "send", "channel": {"$ref": f"#/channels/{name}"}}
    for routing_key, model in sorted(REPLIES.items()):
        message, defs = _message(routing_key, model)
        schemas.update(defs)
        messages[_name(routing_key)] = {**message, "description": "a reply to the caller's reply_to"}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "stoppoc", "version": "1",
                 "description": "The Stop POC conversion: commands, events and replies (see docs/contract.md)."},
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _matches(pattern: str, routing_key: str) -> bool:
    if pattern.endswith(".#"):
        return routing_key.startswith(pattern[:-1])
    return pattern == routing_key
