"""The contract as an AsyncAPI 3.0 document, generated from the pydantic models so the two
cannot drift apart (``stoppoc asyncapi``; ``docs/asyncapi.json`` is checked by a test)."""

from typing import Any

from pydantic import BaseModel

from stoppoc.contract import COMMANDS, EVENTS, REPLIES
from stoppoc.contract.base import MAX_ID_LENGTH
from stoppoc.contract.envelope import CONTENT_TYPE, MAX_TRACESTATE_LENGTH, type_for
from stoppoc.shared.topology import Topology

_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": "^[!-~]+$"}
_ENVELOPE_PROPERTIES: dict[str, Any] = {
    "specversion": {"const": "1.0"},
    "id": {**_ID, "description": "unique; the idempotency key"},
    "source": _ID,
    "time": {"type": "string", "format": "date-time"},
    "datacontenttype": {"const": "application/json"},
    "subject": {**_ID, "description": "the cluster id where there is one"},
    "correlationid": {**_ID, "description": "the stop request id of the conversion"},
    "causationid": {**_ID, "description": "the id of the message that caused this one"},
    "traceparent": {**_ID, "description": "W3C trace context (optional)"},
    "tracestate": {"type": "string", "maxLength": MAX_TRACESTATE_LENGTH, "description": "W3C trace context"},
}
_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0, structured JSON",
    "required": ["specversion", "id", "source", "type", "time", "data"],
    "properties": _ENVELOPE_PROPERTIES,
}


def _name(routing_key: str) -> str:
    return routing_key.replace(".", "_")


def _message(routing_key: str, model: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The message object and the schemas its data refers to."""
    data = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs: dict[str, Any] = data.pop("$defs", {})
    payload = {
        **_ENVELOPE,
        "properties": {**_ENVELOPE_PROPERTIES, "type": {"const": type_for(routing_key)}, "data": data},
    }
    message: dict[str, Any] = {
        "name": type_for(routing_key),
        "contentType": CONTENT_TYPE,
        "title": model.__name__,
        "payload": payload,
    }
    if summary := (model.__doc__ or "").strip().split("\n")[0]:
        message["summary"] = summary  # AsyncAPI wants a string or nothing, never null
    return message, defs


def document(topology: Topology, namespace: str = "stoppoc") -> dict[str, Any]:
    """``topology``: which service consumes what (``stoppoc.services.registry.topology()``)."""
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
            consumers = sorted(service for service, bound in topology.items() if bound.receives(exchange, routing_key))
            channels[name] = {
                "address": routing_key,
                "messages": {name: {"$ref": f"#/components/messages/{name}"}},
                "description": f"exchange {namespace}.{exchange}; consumed by {', '.join(consumers) or 'subscribers'}",
                "bindings": {
                    "amqp": {
                        "is": "routingKey",
                        "exchange": {"name": f"{namespace}.{exchange}", "type": "topic", "durable": True},
                    }
                },
            }
            operations[f"send_{name}"] = {"action": "send", "channel": {"$ref": f"#/channels/{name}"}}
    for routing_key, model in sorted(REPLIES.items()):
        message, defs = _message(routing_key, model)
        schemas.update(defs)
        messages[_name(routing_key)] = {**message, "description": "a reply to the caller's reply_to"}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "stoppoc",
            "version": "1",
            "description": "The Stop POC conversion: commands, events and replies (see docs/contract.md).",
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
