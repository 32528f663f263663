"""``stoppoc status``: is anything piling up? Per queue its depth and consumers (AMQP passive
declares: no management plugin needed), per service its outbox backlog and the age of the oldest
unpublished row, and the dead letters. Exit 1 when something needs an operator."""

import sys
from typing import Any

import click

from stoppoc.cli.database import NEGATIVE, read, run_async
from stoppoc.cli.dead_letter_queues import QueueDepth, connected, depth
from stoppoc.cli.letters import age
from stoppoc.cli.output import echo_json, json_option, show
from stoppoc.services.registry import SERVICES
from stoppoc.shared.messaging import QUERIES as MESSAGING
from stoppoc.shared.messaging import OutboxBacklog
from stoppoc.shared.queries import BoundQueries
from stoppoc.shared.settings import get_settings
from stoppoc.shared.topology import Names


async def queue_depths(amqp_url: str, names: Names) -> list[QueueDepth]:
    wanted = [name for service in SERVICES for name in (names.queue(service), names.dead_letter_queue(service))]
    async with connected(amqp_url) as connection:
        return [await depth(connection, name) for name in wanted]


def attention(queues: list[dict[str, Any]], outboxes: list[dict[str, Any]]) -> list[str]:
    """What an operator should look at: dead letters, a queue nobody consumes, a missing queue."""
    needs = []
    for queue in queues:
        if queue["messages"] is None:
            needs.append(f"{queue['queue']} does not exist (stoppoc migrate)")
        elif queue["dead_letters"] and queue["messages"]:
            needs.append(f"{queue['queue']} holds {queue['messages']} dead letters (stoppoc dlq list)")
        elif not queue["dead_letters"] and not queue["consumers"]:
            needs.append(f"{queue['queue']} has no consumer: is the service running?")
    needs += [f"{o['service']} has {o['unpublished']} unpublished outbox rows" for o in outboxes if o["stale"]]
    return needs


@click.command()
@click.option(
    "--outbox-stale-after",
    default=60.0,
    show_default=True,
    help="Seconds after which an unpublished outbox row needs attention.",
)
@json_option
def status(outbox_stale_after: float, as_json: bool) -> None:
    """Queues (depth, consumers), outboxes (backlog, oldest row's age) and dead letters.

    Exit 0 when all is well; 1 when dead letters wait, a service queue has no consumer, or an
    outbox row is older than --outbox-stale-after.
    """
    settings = get_settings()
    names = Names(settings.namespace)
    depths = run_async(queue_depths(settings.amqp_url, names))

    async def backlogs(**services: BoundQueries) -> dict[str, OutboxBacklog]:
        return {service: await bound.outbox_backlog() for service, bound in services.items()}

    found = read(backlogs, **dict.fromkeys(SERVICES, MESSAGING))
    queues = [
        {
            "queue": d.name,
            "messages": d.messages,
            "consumers": d.consumers,
            "dead_letters": d.name.endswith(".dlq"),
        }
        for d in depths
    ]
    outboxes = []
    for service, backlog in found.items():
        oldest = backlog.oldest_age_seconds if backlog.pending else None
        outboxes.append(
            {
                "service": service,
                "unpublished": backlog.pending,
                "oldest_seconds": oldest,
                "oldest": age(oldest),
                "stale": oldest is not None and oldest > outbox_stale_after,
            }
        )
    needs = attention(queues, outboxes)
    if as_json:
        dead = sum(d.messages or 0 for d in depths if d.name.endswith(".dlq"))
        echo_json({"queues": queues, "outboxes": outboxes, "dead_letters": dead, "attention": needs})
    else:
        show(queues, ["queue", "messages", "consumers"], as_json=False, title=f"queues in {names.namespace}")
        show(outboxes, ["service", "unpublished", "oldest"], as_json=False, title="outboxes")
        for need in needs:
            click.echo(f"needs attention: {need}")
        if not needs:
            click.echo("all well")
    if needs:
        sys.exit(NEGATIVE)
