"""Notifier: records a notification for the customer for each outcome of a conversion
and each wallet credit."""

from collections.abc import Callable

from pydantic import BaseModel

from shared.handlers import HandlerFn, HandlerRegistry
from shared.unit_of_work import UnitOfWork

from services.notifier import domain

registry = HandlerRegistry()


def recorder(render: Callable[[BaseModel], domain.Notification]) -> HandlerFn:
    async def record_notification(event: BaseModel, uow: UnitOfWork) -> None:
        notification = render(event)
        await uow.execute(
            "insert_notification",
            notification.customer_id,
            notification.kind,
            notification.request_id,
            notification.cluster_id,
            notification.title,
            notification.body,
            uow.cause.id,  # ON CONFLICT on it: a second guard after the inbox
        )

    return record_notification


for routing_key, render in domain.RENDERERS.items():
    registry.on(routing_key)(recorder(render))
