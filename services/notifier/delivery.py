"""The delivery worker: writes each notification in the customer's language, then sends its
deliveries, each in a transaction of its own.

A delivery is claimed with ``FOR UPDATE SKIP LOCKED`` and stays locked while it is sent, so two
notifier instances never send the same one; the attempt and its outcome are committed in the
same transaction. A crash between sending and that commit sends the message once more at most
(same webhook-id and Message-ID, so the receiver can drop it). A temporary failure is tried again
after ``STOPPOC_DELIVERY_RETRY_SECONDS``, doubling each time, until
``STOPPOC_DELIVERY_MAX_ATTEMPTS``; a permanent one stops at once.
"""

import asyncio
import contextlib
from datetime import UTC, datetime

import asyncpg

from stoppoc.contract import EVENTS
from stoppoc.contract.base import Language
from stoppoc.contract.envelope import Envelope
from stoppoc.contract.errors import redact
from stoppoc.contract.events import PaymentFailed, PaymentSettled, WalletCredited
from stoppoc.services.notifier import domain, mail
from stoppoc.services.notifier.outcome import Outcome, Status
from stoppoc.services.notifier.queries import QUERIES, DueDelivery, PaymentEvent, Unrendered
from stoppoc.services.notifier.rendering import Rendered, render
from stoppoc.services.notifier.webhooks import WebhookSender
from stoppoc.shared import metrics
from stoppoc.shared.logging import get_logger
from stoppoc.shared.queries import BoundQueries
from stoppoc.shared.settings import Settings

# The `status` label of stoppoc_notifications_total for what became of an attempt.
METRIC_STATUS = {Status.SENT: "delivered", Status.RETRY: "retried", Status.FAILED: "failed"}

# Deliveries one instance sends at once; each holds a database connection while it is sent.
CONCURRENCY = 4
RENDER_BATCH = 50


def retry_delay_seconds(attempt: int, base: float) -> float:
    """The wait after failed attempt ``attempt`` (1, 2, …): base, 2 × base, 4 × base, …"""
    return float(base * 2 ** (attempt - 1))


class DeliveryWorker:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self._webhooks = WebhookSender(settings.webhook_timeout_seconds, settings.webhook_allow_private)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._log = get_logger("stoppoc.notifier.delivery")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notifier-delivery")

    async def stop(self, timeout: float) -> None:
        """Finish the attempts in hand, for at most ``timeout`` seconds (the shutdown's budget,
        shorter than an SMTP timeout): an attempt cut short rolls back and is made again at the
        next start, which may send it twice (as after a crash)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                self._log.warning("delivery attempts cut short by the shutdown", timeout_seconds=timeout)
            except asyncio.CancelledError:
                pass
            self._task = None
        await self._webhooks.close()

    async def run_once(self) -> int:
        """Render what can be rendered, then send what is due. How much was done."""
        return await self.render_due() + await self.deliver_due()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            done = 0
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away, most likely: the next round tries again
                self._log.exception("delivery round failed")
            if not done and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.sweep_seconds)

    # Rendering -------------------------------------------------------------------------------

    async def render_due(self) -> int:
        rendered = 0
        async with self._pool.acquire() as conn, conn.transaction():
            q = QUERIES.bind(conn)
            waiting: list[Unrendered] = await q.claim_unrendered(
                wait_seconds=self._settings.notification_context_wait_seconds,
                batch_size=RENDER_BATCH,
            )
            for row in waiting:
                rendered += await self._render_one(q, row)
        return rendered

    async def _render_one(self, q: BoundQueries, row: Unrendered) -> int:
        envelope = Envelope.parse(row.event.encode())
        event = EVENTS[envelope.routing_key].model_validate(envelope.data)
        payments = await self._payments_of(q, row, event)
        complete = domain.is_complete(envelope.routing_key, event, payments)
        if not complete and not row.waited:
            return 0  # its payment events may still be on their way
        if not complete:
            self._log.warning(
                "notification written without all of its payment events",
                notification_id=row.notification_id,
                kind=row.kind,
                waited_seconds=self._settings.notification_context_wait_seconds,
            )
        language = Language(row.language)
        try:
            text = render(
                row.kind, event, payments, customer_id=row.customer_id, language=language, timezone=row.timezone
            )
        except Exception as error:  # a template bug: the e-mail fails, the webhook still goes
            self._log.exception("notification cannot be written", notification_id=row.notification_id)
            await q.give_up_rendering(notification_id=row.notification_id, note=f"cannot be written: {error!r}")
            return 1
        await q.store_rendering(
            notification_id=row.notification_id,
            title=text.subject,
            body=text.text,
            html=text.html,
            language=language.value,
        )
        return 1

    async def _payments_of(self, q: BoundQueries, row: Unrendered, event: object) -> domain.Payments:
        rows: list[PaymentEvent]
        if isinstance(event, WalletCredited) and (refund := domain.refunded(event)):
            rows = await q.payment_events_of_payment(customer_id=row.customer_id, payment_id=refund[0])
        elif row.request_id is not None:
            rows = await q.payment_events(customer_id=row.customer_id, request_id=row.request_id)
        else:
            return domain.Payments()
        settled, failed = [], []
        for found in rows:
            data = Envelope.parse(found.event.encode()).data
            if found.kind == "payment_settled":
                settled.append(PaymentSettled.model_validate(data))
            else:
                failed.append(PaymentFailed.model_validate(data))
        return domain.Payments.of(settled, failed)

    # Sending ---------------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        # One claim first: an idle round costs one query and one connection, not CONCURRENCY.
        if not await self.deliver_one():
            return 0

        async def sender() -> int:
            sent = 0
            while not self._stopping and await self.deliver_one():
                sent += 1
            return sent

        return 1 + sum(await asyncio.gather(*(sender() for _ in range(CONCURRENCY))))

    async def deliver_one(self) -> bool:
        """Claim the delivery due first, attempt it and record the outcome. False if none is due."""
        async with self._pool.acquire() as conn, conn.transaction():
            q = QUERIES.bind(conn)
            due: DueDelivery | None = await q.claim_due_delivery()
            if due is None:
                return False
            started_at = datetime.now(UTC)
            try:
                destination, outcome = await self._attempt(due)
            except Exception as error:  # a bug of ours: counted as an attempt, so it cannot loop
                self._log.exception("delivery attempt broke", delivery_id=due.delivery_id)
                destination, outcome = "-", Outcome.retry(f"unexpected error: {error!r}")
            finished = await self._attempt_finished(q, due, destination, outcome, started_at)
        # Counted once the attempt's record is committed (stoppoc_notifications_total).
        metrics.count_notification(due.channel, METRIC_STATUS[finished])
        return True

    async def _attempt(self, due: DueDelivery) -> tuple[str, Outcome]:
        if due.channel == "webhook":
            if not (due.webhook_url and due.webhook_secret):
                return "-", Outcome.failed("the customer's contact has no webhook any more")
            body = due.event.encode()
            return redact(due.webhook_url), await self._webhooks.post(
                due.webhook_url, due.webhook_secret, due.source_message_id, body
            )
        if not due.email:
            return "-", Outcome.failed("the customer's contact has no e-mail address any more")
        if not self._settings.smtp_host:
            return due.email, Outcome.failed("e-mail is off (STOPPOC_SMTP_HOST is not set)")
        assert due.title is not None and due.body is not None and due.html is not None  # claimed once rendered
        message = mail.build_message(
            sender=self._settings.mail_from,
            recipient=due.email,
            rendered=Rendered(due.title, due.body, due.html),
            notification_id=due.notification_id,
        )
        return due.email, await mail.send(message, self._settings)

    async def _attempt_finished(
        self, q: BoundQueries, due: DueDelivery, destination: str, outcome: Outcome, started_at: datetime
    ) -> Status:
        """Every attempt ends here: in the delivery log, on the delivery, and in the service's log.
        What became of the delivery: sent, to be retried, or failed for good."""
        attempt = due.attempts + 1
        status = outcome.status
        answer = outcome.answer[:2000]
        if status is Status.RETRY and attempt >= self._settings.delivery_max_attempts:
            status = Status.FAILED
            answer = f"{answer} (gave up after {attempt} attempts)"
        await q.record_attempt(
            delivery_id=due.delivery_id,
            attempt=attempt,
            destination=destination,
            started_at=started_at,
            outcome=status.value,
            answer=answer,
        )
        delay = None
        if status is Status.SENT:
            await q.lock_notification(notification_id=due.notification_id)
            await q.mark_sent(delivery_id=due.delivery_id, attempts=attempt)
            await q.stamp_delivered(notification_id=due.notification_id)
        elif status is Status.RETRY:
            delay = retry_delay_seconds(attempt, self._settings.delivery_retry_seconds)
            await q.schedule_retry(delivery_id=due.delivery_id, attempts=attempt, delay_seconds=delay, error=answer)
        else:
            await q.mark_failed(delivery_id=due.delivery_id, attempts=attempt, error=answer)
        log = self._log.info if status is Status.SENT else self._log.warning
        log(
            "delivery attempt",
            channel=due.channel,
            outcome=status.value,
            delivery_id=due.delivery_id,
            notification_id=due.notification_id,
            customer_id=due.customer_id,
            attempt=attempt,
            answer=answer,
            retry_in_seconds=delay,
        )
        return status
