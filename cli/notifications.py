"""``stoppoc notifications``: what customers were told, on which channel, and each attempt."""

from typing import Any

import click

from stoppoc.cli.database import fail, read, write
from stoppoc.cli.output import as_dict, echo_json, json_option, show
from stoppoc.services.notifier.queries import QUERIES as NOTIFIER
from stoppoc.services.notifier.queries import Delivery
from stoppoc.shared.queries import BoundQueries

STATUSES = ["pending", "sent", "failed", "unsent"]
LIST_COLUMNS = ["notification_id", "customer_id", "kind", "cluster_id", "status", "channels", "created_at", "note"]
RECORD_COLUMNS = ["notification_id", "customer_id", "kind", "request_id", "cluster_id", "language", "created_at"]
DELIVERY_COLUMNS = ["delivery_id", "channel", "status", "attempts", "next_attempt_at", "sent_at", "last_error"]
ATTEMPT_COLUMNS = ["channel", "attempt", "destination", "started_at", "outcome", "answer"]


@click.group()
def notifications() -> None:
    """Notifications to customers: e-mails and webhooks, their attempts, and retries."""


@notifications.command("list")
@click.option("--customer", help="Only this customer's notifications.")
@click.option(
    "--status",
    type=click.Choice(STATUSES),
    help="pending: a delivery waits; failed: one gave up; sent: all sent; unsent: none to make (see note).",
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1), help="At most this many.")
@json_option
def list_notifications(customer: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """Notifications, newest first, with the status of each channel."""

    async def query(notifier: BoundQueries) -> Any:
        return await notifier.list_notifications(customer_id=customer, status=status, limit=limit)

    show(read(query, notifier=NOTIFIER), LIST_COLUMNS, as_json=as_json)


@notifications.command("show")
@click.argument("notification_id", type=int)
@json_option
def show_notification(notification_id: int, as_json: bool) -> None:
    """A notification as it was written, its deliveries, and each attempt with its answer."""

    async def query(notifier: BoundQueries) -> Any:
        return (
            await notifier.notification(notification_id=notification_id),
            await notifier.deliveries_of(notification_id=notification_id),
            await notifier.attempts_of(notification_id=notification_id),
        )

    record, deliveries, attempts = read(query, notifier=NOTIFIER)
    if record is None:
        fail(f"no notification {notification_id}")
    if as_json:
        echo_json(
            {
                **as_dict(record),
                "deliveries": [as_dict(d) for d in deliveries],
                "attempts": [as_dict(a) for a in attempts],
            }
        )
        return
    show([record], RECORD_COLUMNS, as_json=False, title=f"notification {notification_id}")
    click.echo(f"subject: {record.title or '(not written yet)'}")
    if record.note:
        click.echo(f"note: {record.note}")
    show(deliveries, DELIVERY_COLUMNS, as_json=False, title="deliveries")
    show(attempts, ATTEMPT_COLUMNS, as_json=False, title="attempts")


@notifications.command("retry")
@click.argument("notification_id", type=int)
@json_option
def retry_notification(notification_id: int, as_json: bool) -> None:
    """Send the notification's failed (or waiting) deliveries now, with a fresh round of attempts.
    A delivery that was sent is never sent again. Exit 1 if there is nothing to retry."""

    async def retry(notifier: BoundQueries) -> tuple[Any, list[Delivery]]:
        return (
            await notifier.notification(notification_id=notification_id),
            await notifier.retry_deliveries(notification_id=notification_id),
        )

    record, retried = write(retry, NOTIFIER, "notifier")
    if record is None:
        fail(f"no notification {notification_id}")
    if not retried:
        fail(f"notification {notification_id} has no failed or pending delivery to retry")
    show(retried, DELIVERY_COLUMNS, as_json=as_json, title=f"notification {notification_id}: due now")
