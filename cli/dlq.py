"""``stoppoc dlq``: what the services' dead-letter queues hold; showing, replaying, purging it.

For operators replaying dead-lettered conversions. Every command survives whatever bytes a queue
holds: a body that is not UTF-8, not JSON, nested too deep or too large is shown as unreadable
with its size and a prefix (``stoppoc.cli.letters``), and the rest of the queue is handled as
usual. A replay of a message that was handled already changes nothing: the inboxes drop it.
"""

from collections.abc import Coroutine
from typing import Any, TypeVar

import click

from stoppoc.cli.database import fail, run_async
from stoppoc.cli.dead_letter_queues import Replayed, peek, peek_all, purge, replay
from stoppoc.cli.letters import DeadLetter, age
from stoppoc.cli.output import echo_json, json_option, show
from stoppoc.contract.envelope import utc_now
from stoppoc.services.registry import SERVICES, definition
from stoppoc.shared.retention import replay_horizon, sent_before
from stoppoc.shared.settings import get_settings
from stoppoc.shared.topology import Names

__all__ = ["DeadLetter", "peek"]  # the tests read dead letters through these

T = TypeVar("T")

LIST_COLUMNS = ["id", "type", "error", "attempts", "age", "original-routing-key", "detail"]
QUEUE_COLUMNS = ["queue", "messages", "oldest", "reasons"]


def _names() -> Names:
    return Names(get_settings().namespace)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return run_async(coro)
    except LookupError as error:
        fail(str(error))


@click.group()
def dlq() -> None:
    """Dead-lettered messages: list and show them, replay them once their cause is fixed, purge them."""


service_argument = click.argument("service", type=click.Choice(SERVICES))
ids_option = click.option("--id", "ids", multiple=True, help="A message id, as `dlq list` shows it (repeatable).")
all_option = click.option("--all", "everything", is_flag=True, help="Every message in the dead-letter queue.")


@dlq.command("list")
@click.argument("service", type=click.Choice(SERVICES), required=False)
@json_option
def list_dead_letters(service: str | None, as_json: bool) -> None:
    """Without SERVICE: every dead-letter queue with its count, oldest and reasons. With it: each
    message's id, error, attempts and age. Nothing is taken off the queues."""
    now = utc_now()
    names = _names()
    if service is None:
        found = _run(peek_all(get_settings().amqp_url, names, SERVICES))
        rows = [_queue_row(names.dead_letter_queue(s), letters, now) for s, letters in found.items()]
        show(rows, QUEUE_COLUMNS, as_json=as_json, title=f"dead letters in {names.namespace}")
        return
    letters = _run(peek(get_settings().amqp_url, names, service))
    rows = [letter.row(now) for letter in letters]
    if as_json:
        echo_json(rows)
        return
    table = [
        {**row, "age": age(row["age_seconds"]), "detail": letter.body.describe() or row.get("detail")}
        for row, letter in zip(rows, letters, strict=True)
    ]
    show(table, LIST_COLUMNS, as_json=False, title=f"{names.dead_letter_queue(service)}: {len(rows)} dead letters")


def _queue_row(queue: str, letters: list[DeadLetter] | None, now: Any) -> dict[str, Any]:
    if letters is None:
        return {"queue": queue, "messages": None, "oldest": None, "reasons": "no such queue"}
    ages = [a for a in (letter.age_seconds(now) for letter in letters) if a is not None]
    reasons: dict[str, int] = {}
    for letter in letters:
        reasons[letter.error] = reasons.get(letter.error, 0) + 1
    return {
        "queue": queue,
        "messages": len(letters),
        "oldest": age(max(ages)) if ages else None,
        "oldest_seconds": max(ages) if ages else None,
        "reasons": ", ".join(f"{error} {count}" for error, count in sorted(reasons.items())),
        "by_reason": reasons,
    }


@dlq.command("show")
@service_argument
@click.argument("message_id")
@json_option
def show_dead_letter(service: str, message_id: str, as_json: bool) -> None:
    """One dead letter: its error, attempts, headers and body (described when unreadable)."""
    letters = [x for x in _run(peek(get_settings().amqp_url, _names(), service)) if x.id == message_id]
    if not letters:
        fail(f"no message {message_id!r} in {_names().dead_letter_queue(service)}")
    detail = letters[0].detail(utc_now())
    if as_json:
        echo_json(detail)
        return
    body = detail.pop("body")
    for key in ("id", "type", "error", "attempts", "detail", "service", "failed-at", "age_seconds"):
        click.echo(f"{key:>22}: {detail.get(key)}")
    click.echo(f"{'original':>22}: {detail.get('original-exchange')} {detail.get('original-routing-key')}")
    click.echo(f"{'headers':>22}: {detail['headers']}")
    click.echo(f"{'properties':>22}: {detail['properties']}")
    if letters[0].body.readable:
        click.echo(f"body ({body['size']:,} bytes):")
        echo_json(body["json"])
    else:
        click.echo(f"body: {letters[0].body.describe()}")
    if len(letters) > 1:
        click.echo(f"({len(letters)} copies of this message are in the queue)")


def forged(letter: DeadLetter, service: str, names: Names) -> str | None:
    """Why a letter in ``service``'s dead-letter queue cannot be its own, or None. Another service
    cannot put one there (NS.dead-letters' topic permissions), but the deployer and the admin may
    write to NS.dlx, letters from before NS.dead-letters came through it, and a replay is published
    as the operator, who may publish anything: only what the service itself consumes goes out again.
    A letter the broker dead-lettered from the service's queue (its delivery limit) carries only
    ``x-death``, which names that queue."""
    stamped_by = letter.headers.get("service")
    by_the_broker = stamped_by is None and letter.headers.get("queue") == names.queue(service)
    if stamped_by != service and not by_the_broker:
        return f"x-stoppoc-service is {stamped_by!r}, not {service!r}: it did not come from {service}"
    exchange = str(letter.headers.get("original-exchange") or "")
    routing_key = str(letter.headers.get("original-routing-key") or "")
    kinds = {names.commands: "commands", names.events: "events"}
    if exchange not in kinds or not definition(service).bindings.receives(kinds[exchange], routing_key):
        return f"{service} does not consume {routing_key!r} from {exchange or '(default exchange)'!r}"
    return None


@dlq.command("replay")
@service_argument
@ids_option
@click.option("--reason", help="Every message dead-lettered with this error code (e.g. retries_exhausted).")
@all_option
@click.option("--dry-run", is_flag=True, help="Only say what would be replayed; change nothing.")
def replay_dead_letters(
    service: str, ids: tuple[str, ...], reason: str | None, everything: bool, dry_run: bool
) -> None:
    """Publish dead letters again to their original exchange and routing key, then remove them.

    Exit 1 when an --id is not in the queue or a message could not be replayed (it stays there). A
    message the service does not consume (its routing key or x-stoppoc-service say another: a
    forgery) is never replayed; it stays in the queue.
    """
    if sum((bool(ids), everything, reason is not None)) != 1:
        raise click.UsageError("give one of --id ID (one or more), --reason CODE or --all")
    wanted = set(ids)
    # The services that handled a message sent before this may have pruned its inbox row: such a
    # dead letter stays in the queue for an operator to judge (docs/reliability.md#retention).
    horizon = replay_horizon(get_settings(), utc_now())
    too_old: set[str] = set()
    refused: dict[str, str] = {}
    names = _names()

    def chosen(letter: DeadLetter) -> bool:
        if not (everything or letter.id in wanted or letter.error == reason):
            return False
        if why := forged(letter, service, names):
            refused[letter.id] = why
            return False
        if letter.body.readable and sent_before(letter.raw_body, horizon):
            too_old.add(letter.id)
            return False
        return True

    done: list[Replayed] = _run(replay(get_settings().amqp_url, names, service, chosen, dry_run=dry_run))
    for message_id, why in refused.items():
        click.echo(f"refused {message_id}: {why}")
    verb = "would replay" if dry_run else "replayed"
    for item in done:
        letter = item.letter
        where = letter.headers.get("original-routing-key")
        if item.error:
            click.echo(f"not replayed {letter.id} ({letter.type}): {item.error}")
        else:
            click.echo(f"{verb} {letter.id} ({letter.type or letter.body.describe()}) to {where}")
    failed = [item for item in done if item.error]
    click.echo(f"{len(done) - len(failed)} {verb}" + (f", {len(failed)} not" if failed else ""))
    missing = sorted(wanted - {item.letter.id for item in done} - too_old - set(refused))
    if missing:
        fail(f"not in {_names().dead_letter_queue(service)}: {', '.join(missing)}")
    if failed:
        fail(f"{len(failed)} could not be replayed and stay in {_names().dead_letter_queue(service)}")
    if refused:
        fail(f"{len(refused)} refused (not {service}'s own) and stay in {names.dead_letter_queue(service)}")
    if too_old:
        fail(
            f"not replayed, sent before {horizon.isoformat()} (STOPPOC_INBOX_RETENTION_DAYS less a day): the "
            f"services may have forgotten handling them; they stay in the queue: {', '.join(sorted(too_old))}"
        )


@dlq.command("purge")
@service_argument
@ids_option
@all_option
@click.option("--yes", is_flag=True, help="Do not ask.")
def purge_dead_letters(service: str, ids: tuple[str, ...], everything: bool, yes: bool) -> None:
    """Remove dead letters for good (after reading them with `dlq show`). Asks first unless --yes."""
    if bool(ids) == everything:
        raise click.UsageError("give --id ID (one or more) or --all")
    wanted = set(ids)

    def chosen(letter: DeadLetter) -> bool:
        return everything or letter.id in wanted

    queue = _names().dead_letter_queue(service)
    present = [x for x in _run(peek(get_settings().amqp_url, _names(), service)) if chosen(x)]
    missing = sorted(wanted - {letter.id for letter in present})
    if missing:
        fail(f"not in {queue}: {', '.join(missing)}")
    if not present:
        click.echo(f"{queue} is empty")
        return
    if not yes:
        for letter in present:
            click.echo(f"{letter.id}  {letter.type or letter.body.describe()}  {letter.error}")
        click.confirm(f"Remove {len(present)} dead letters from {queue} for good?", abort=True)
    # Only those seen and agreed to: a message dead-lettered since is left for another look.
    agreed = {letter.id for letter in present}
    removed = _run(purge(get_settings().amqp_url, _names(), service, lambda letter: letter.id in agreed))
    for letter in removed:
        click.echo(f"purged {letter.id} ({letter.type or letter.body.describe()}, {letter.error})")
    click.echo(f"{len(removed)} purged")
