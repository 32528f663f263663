"""Notifier: keeps each customer's contact, and records a notification for each outcome the
customer hears about, with a delivery for each of the customer's channels, in the transaction
that handles the event. The delivery worker (delivery.py) writes and sends them."""

from pydantic import BaseModel

from stoppoc.contract.commands import ContactUpsert
from stoppoc.contract.errors import InvalidData
from stoppoc.services.notifier import domain, webhook_rules
from stoppoc.services.notifier.queries import Contact, TopicDelivery
from stoppoc.shared.handlers import HandlerFn, HandlerRegistry
from stoppoc.shared.logging import get_logger
from stoppoc.shared.settings import Settings
from stoppoc.shared.unit_of_work import UnitOfWork

registry = HandlerRegistry()
log = get_logger("stoppoc.notifier", service="notifier")


def channels_for(kind: domain.Kind, contact: Contact | None, settings: Settings) -> tuple[list[str], str | None]:
    """The channels a notification goes to, and a note saying why it goes to none (or not to one)."""
    if not kind.told:
        return [], "recorded only: its figures are told with the outcome it belongs to"
    if contact is None:
        return [], "not sent: the customer has no contact (notifier.contact.upsert)"
    channels, notes = [], []
    if contact.email and settings.smtp_host:
        channels.append("email")
    elif contact.email:
        notes.append("e-mail is off (STOPPOC_SMTP_HOST is not set)")
    if contact.webhook_url:
        channels.append("webhook")
    if not contact.email and not contact.webhook_url:
        notes.append("the customer's contact has neither an e-mail address nor a webhook")
    return channels, "; ".join(notes) or None


# What became of a channel's first delivery of a fact, as it stands when the fact comes again.
EARLIER_STATUS = {"pending": "is still pending", "failed": "failed"}


def told_already(earlier: list[TopicDelivery], topic: str) -> str:
    """Why a replayed fact is not sent again, by what became of each channel's first delivery."""
    sent = [d.channel for d in earlier if d.status == "sent"]
    parts = [f"told already on {', '.join(sent)}"] if sent else []
    parts += [
        f"not sent again on {d.channel}: notification {d.notification_id}'s delivery {EARLIER_STATUS[d.status]}"
        for d in earlier
        if d.status != "sent"
    ]
    return f"{'; '.join(parts)} (same {topic})"


async def record_deliveries(
    uow: UnitOfWork, notification_id: int, customer_id: str, channels: list[str], topic: str
) -> list[TopicDelivery]:
    """A delivery per channel; for each channel told this fact already, that earlier delivery."""
    earlier = []
    for channel in channels:
        if await uow.q.insert_delivery(
            notification_id=notification_id, customer_id=customer_id, channel=channel, topic=topic
        ):
            continue
        # The conflicting row is committed (ON CONFLICT waits for its transaction), so it is found.
        found: TopicDelivery = await uow.q.delivery_of_topic(customer_id=customer_id, channel=channel, topic=topic)
        earlier.append(found)
    return earlier


def recorder(routing_key: str) -> HandlerFn:
    async def record_notification(event: BaseModel, uow: UnitOfWork) -> None:
        assert uow.cause is not None  # a handler always has the message it handles
        kind = domain.kind_of(routing_key, event)
        customer_id = str(getattr(event, "customer_id"))  # noqa: B009 (every notified event names its customer)
        contact = await uow.q.contact(customer_id=customer_id)
        channels, note = channels_for(kind, contact, uow.settings)
        notification_id = await uow.q.insert_notification(
            customer_id=customer_id,
            kind=kind.name,
            request_id=kind.reference(event),
            cluster_id=getattr(event, "cluster_id", None),
            source_message_id=uow.cause.id,
            event=uow.cause.to_json().decode(),
            told=kind.told,
            note=note,
        )
        if notification_id is None:
            return  # recorded already under this event id
        topic = f"{kind.name}:{kind.fact(event)}"
        earlier = await record_deliveries(uow, notification_id, customer_id, channels, topic)
        if earlier:
            note = "; ".join(filter(None, [note, told_already(earlier, topic)]))
            await uow.q.set_note(notification_id=notification_id, note=note)
        told_before = {delivery.channel for delivery in earlier}
        sent_on = [channel for channel in channels if channel not in told_before]
        log.info("notification recorded", kind=kind.name, notification_id=notification_id, channels=sent_on, note=note)

    return record_notification


for _routing_key in domain.KINDS:
    registry.on(_routing_key)(recorder(_routing_key))


@registry.on("notifier.contact.upsert")
async def upsert_contact(contact: ContactUpsert, uow: UnitOfWork) -> None:
    if contact.webhook_url is not None and contact.webhook_secret is not None:
        try:
            webhook_rules.parse_url(contact.webhook_url)
            webhook_rules.secret_key(contact.webhook_secret)
        except ValueError as error:  # the address itself is checked at each delivery
            raise InvalidData(f"notifier.contact.upsert: {error}") from error
    await uow.q.upsert_contact(**contact.model_dump(mode="json"))
