"""Notifier: keeps each customer's contact, and records a notification for the customer for each
outcome of a conversion and each wallet credit."""

import dataclasses
from collections.abc import Callable

from pydantic import BaseModel

from stoppoc.contract.commands import ContactUpsert
from stoppoc.services.notifier import domain
from stoppoc.shared.handlers import HandlerFn, HandlerRegistry
from stoppoc.shared.unit_of_work import UnitOfWork

registry = HandlerRegistry()


def recorder(render: Callable[[BaseModel], domain.Notification]) -> HandlerFn:
    async def record_notification(event: BaseModel, uow: UnitOfWork) -> None:
        assert uow.cause is not None  # a handler always has the message it handles
        await uow.q.insert_notification(**dataclasses.asdict(render(event)), source_message_id=uow.cause.id)

    return record_notification


for routing_key, render in domain.RENDERERS.items():
    registry.on(routing_key)(recorder(render))


@registry.on("notifier.contact.upsert")
async def upsert_contact(contact: ContactUpsert, uow: UnitOfWork) -> None:
    await uow.q.upsert_contact(**contact.model_dump(mode="json"))
