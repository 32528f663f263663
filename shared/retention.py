"""Retention of the messaging tables: the inbox, the outbox and the redelivery counts are pruned
by a periodic task of every service, so that their size follows the retention, not the years.

An inbox row is what makes a second copy of a message harmless, so it is kept for longer than a
copy can still arrive (docs/reliability.md#retention):

- a delivery left unacknowledged (a crash, a lost connection) goes back near the head of its
  queue and comes again as soon as an instance of the service consumes, and the pruning runs
  only in such an instance, one interval after it started;
- an outbox row published but not stamped is published again by the next relay run of its
  service, within seconds while an instance of it runs;
- a dead letter can wait in its queue for as long as nobody replays it, so ``stoppoc dlq replay``
  refuses a message older than the inbox retention less ``CLOCK_MARGIN``: the services that
  handled it may have forgotten it.

Published outbox rows are kept for audit for their own retention; a row not yet published is
never pruned. A redelivery count is dropped once its message has not come back for as long as the
inbox keeps rows.
"""

import json
from datetime import datetime, timedelta

from stoppoc.shared.logging import get_logger
from stoppoc.shared.messaging import QUERIES as MESSAGING
from stoppoc.shared.settings import Settings
from stoppoc.shared.unit_of_work import UnitOfWork

DAY_SECONDS = 86_400
# Rows deleted per table in one transaction: short enough not to hold locks or the vacuum
# horizon back; a full batch runs the task again at once.
BATCH_SIZE = 1000
# The clocks that stamp a message's `time` (its publisher's) and its inbox row (the database's)
# may disagree; a replay keeps this far from the inbox's horizon.
CLOCK_MARGIN = timedelta(days=1)


async def prune_messaging(uow: UnitOfWork, batch_size: int = BATCH_SIZE) -> bool:
    """Delete one batch of each table's rows past their retention. True if a batch was full
    (there is more to prune)."""
    q = MESSAGING.bind(uow.conn)
    inbox_seconds = uow.settings.inbox_retention_days * DAY_SECONDS
    pruned: dict[str, int] = {
        "inbox": await q.prune_inbox(retention_seconds=inbox_seconds, batch_size=batch_size),
        "outbox": await q.prune_outbox(
            retention_seconds=uow.settings.outbox_retention_days * DAY_SECONDS, batch_size=batch_size
        ),
        "redeliveries": await q.prune_redeliveries(retention_seconds=inbox_seconds, batch_size=batch_size),
    }
    if any(pruned.values()):
        get_logger("stoppoc.retention").info("messaging tables pruned", **pruned)
    return max(pruned.values()) >= batch_size


def replay_horizon(settings: Settings, now: datetime) -> datetime:
    """The oldest message a replay may publish again: every service that handled a message
    since then still has it in its inbox."""
    return now - timedelta(days=settings.inbox_retention_days) + CLOCK_MARGIN


def sent_before(body: bytes, horizon: datetime) -> bool:
    """Whether the message in ``body`` (a CloudEvent) was sent before ``horizon``; a body with no
    readable ``time`` was never handled by anyone, so it is not."""
    try:
        sent: datetime = datetime.fromisoformat(json.loads(body)["time"])
    except (ValueError, TypeError, KeyError, RecursionError):
        return False
    return sent.tzinfo is not None and sent < horizon
