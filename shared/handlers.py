"""A service's handlers, registered by routing key.

- ``@registry.on(key)``: ``handler(message, uow)`` changes state; it runs in one transaction
  with the inbox row of the message and the outbox rows of what it emits.
- ``@registry.query(key)``: ``handler(message, uow)`` answers a request (AMQP ``reply_to``) in a
  read-only transaction and changes nothing. It returns a ``Reply`` for the caller, or a
  ``Forward``: a command to the next service, which answers the same caller in its turn.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from stoppoc.contract import COMMANDS, EVENTS
from stoppoc.contract.envelope import Envelope, type_for
from stoppoc.contract.errors import UnknownMessageType
from stoppoc.shared.unit_of_work import UnitOfWork

# A handler takes the model of its routing key (typed in its own signature) and a unit of work.
HandlerFn = Callable[[Any, UnitOfWork], Awaitable[Any]]


@dataclass(frozen=True)
class Reply:
    message: BaseModel


@dataclass(frozen=True)
class Forward:
    message: BaseModel


@dataclass(frozen=True)
class Handler:
    routing_key: str
    model: type[BaseModel]
    fn: HandlerFn
    query: bool = False


class HandlerRegistry:
    def __init__(self) -> None:
        self._by_type: dict[str, Handler] = {}

    def on(self, routing_key: str, *, query: bool = False) -> Callable[[HandlerFn], HandlerFn]:
        model = {**COMMANDS, **EVENTS}[routing_key]

        def register(fn: HandlerFn) -> HandlerFn:
            self._by_type[routing_key] = Handler(routing_key, model, fn, query)
            return fn

        return register

    def query(self, routing_key: str) -> Callable[[HandlerFn], HandlerFn]:
        return self.on(routing_key, query=True)

    def resolve(self, envelope: Envelope) -> Handler:
        handler = self._by_type.get(envelope.routing_key)
        if handler is None or envelope.type != type_for(handler.routing_key):
            raise UnknownMessageType(f"no handler for type {envelope.type!r}")
        return handler

    @property
    def routing_keys(self) -> list[str]:
        return sorted(self._by_type)
