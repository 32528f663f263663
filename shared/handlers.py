"""A service's handlers, registered by routing key: ``handler(message, uow)``."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel

from shared.contract import COMMANDS, EVENTS
from shared.envelope import Envelope, type_for
from shared.errors import UnknownMessageType
from shared.unit_of_work import UnitOfWork

HandlerFn = Callable[[BaseModel, UnitOfWork], Awaitable[object]]


@dataclass(frozen=True)
class Handler:
    routing_key: str
    model: type[BaseModel]
    fn: HandlerFn


class HandlerRegistry:
    def __init__(self) -> None:
        self._by_type: dict[str, Handler] = {}

    def on(self, routing_key: str) -> Callable[[HandlerFn], HandlerFn]:
        model = {**COMMANDS, **EVENTS}[routing_key]

        def register(fn: HandlerFn) -> HandlerFn:
            self._by_type[routing_key] = Handler(routing_key, model, fn)
            return fn

        return register

    def resolve(self, envelope: Envelope) -> Handler:
        handler = self._by_type.get(envelope.routing_key)
        if handler is None or envelope.type != type_for(handler.routing_key):
            raise UnknownMessageType(f"no handler for type {envelope.type!r}")
        return handler

    @property
    def routing_keys(self) -> list[str]:
        return sorted(self._by_type)
