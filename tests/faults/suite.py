"""One run of the fault-injection suite: the services as processes (several instances each),
a seeded batch of conversions sent through the contract while the fault injector kills,
stops and cuts them, then every invariant checked and the figures reported."""

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from stoppoc.cli.dlq import peek
from stoppoc.contract.envelope import Envelope
from stoppoc.services import registry
from stoppoc.services.registry import SERVICES
from stoppoc.shared.client import ContractClient
from stoppoc.shared.settings import Settings
from stoppoc.shared.topology import Names
from tests.contract_data import wait_until
from tests.e2e.processes import ServiceProcesses
from tests.faults.chaos import Chaos, FaultCounts
from tests.faults.injection import rabbitmqctl
from tests.faults.invariants import Evidence, check_all
from tests.faults.probes import SCHEMAS
from tests.faults.renewal_invariants import RENEWAL_EVENTS
from tests.faults.workload import Plan, Sender, load_catalog, plan

SECOND = 1 / 86_400  # in days
# Production's retry settings, with the relay and the sweeps polling faster so a run is short,
# and a paid resource's lifecycle in seconds rather than days.
SUITE_SETTINGS = {
    "max_attempts": 5,
    "max_deliveries": 5,
    "retry_base_seconds": 0.1,
    "relay_poll_seconds": 0.2,
    "sweep_seconds": 0.5,
    "funds_wait_seconds": 1.0,
    "prefetch": 8,
    "suspend_after_days": 2 * SECOND,
    "delete_after_days": 4 * SECOND,
    "renewal_reminder_days": [10 * SECOND, 5 * SECOND],
}


@dataclass
class Figures:
    seed: int
    conversions: int
    instances: int
    customers: Counter
    requests: int
    messages_sent: int
    outcomes: Counter = field(default_factory=Counter)
    renewals: Counter = field(default_factory=Counter)  # outcomes, stages and reminders of paid resources
    faults: FaultCounts = field(default_factory=FaultCounts)
    events_seen: int = 0
    republished: int = 0  # events the suite published again itself, as a broker redelivery would
    duplicates_delivered: int = 0  # further copies of an event the client saw, from the services
    redeliveries: tuple[int, int] = (0, 0)  # (deliveries, messages) the services counted
    dead_letters: Counter = field(default_factory=Counter)
    dead_letter_copies: int = 0
    invariants_checked: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        funding = ", ".join(f"{n} {kind}" for kind, n in sorted(self.customers.items()))
        outcomes = ", ".join(f"{key} {n}" for key, n in sorted(self.outcomes.items()))
        letters = ", ".join(f"{service} {error} {n}" for (service, error), n in sorted(self.dead_letters.items()))
        f = self.faults
        return [
            f"stoppoc fault suite: seed {self.seed}, {self.conversions} conversions, "
            f"{self.instances} instances of each service, {self.seconds:.1f} s",
            f"  customers            {sum(self.customers.values())} ({funding})",
            f"  requests             {self.requests} stop requests; {self.messages_sent} commands and poison sent",
            f"  outcomes             {outcomes}",
            f"  renewals             {', '.join(f'{key} {n}' for key, n in sorted(self.renewals.items()))}",
            f"  faults               {f.kills} kills (SIGKILL), {f.sigterm_restarts} SIGTERM restarts, "
            f"{f.broker_cuts} broker connections closed, {f.database_cuts} database connections terminated",
            f"  events seen          {self.events_seen}; republished by the suite {self.republished}; "
            f"duplicates delivered by the services {self.duplicates_delivered}",
            f"  redeliveries         {self.redeliveries[0]} of {self.redeliveries[1]} messages, "
            "counted by the services",
            f"  dead letters         {sum(self.dead_letters.values())} ({letters}); "
            f"extra copies {self.dead_letter_copies}",
            f"  invariants checked   {self.invariants_checked}",
            f"  violations           {len(self.violations)}",
            *(f"    - {violation}" for violation in self.violations[:50]),
        ]


async def run_suite(
    settings: Settings, *, conversions: int, seed: int, instances: int, log_dir: Path, seconds: float | None = None
) -> Figures:
    """``seconds``: how long the stop requests are spread over (default: five a second)."""
    settings = settings.model_copy(update=SUITE_SETTINGS)
    names = Names(settings.namespace)
    services = ServiceProcesses(settings, log_dir)
    database = await asyncpg.connect(settings.database_url)
    try:
        async with ContractClient(
            settings.amqp_url, names, source="/faults/portal", declare=registry.topology()
        ) as client:
            spread = conversions / 5 if seconds is None else seconds
            the_plan = plan(conversions, seed, await load_catalog(database), spread)
            figures = Figures(
                seed,
                conversions,
                instances,
                Counter(c.funding for c in the_plan.customers.values()),
                len(the_plan.request_ids),
                the_plan.commands,
            )
            await services.start(instances=instances)
            started = time.monotonic()
            chaos = Chaos.over(services, SERVICES, instances, random.Random(seed + 1))
            chaos.start()
            republisher = Republisher(client, random.Random(seed + 3))
            try:
                await _send(
                    the_plan,
                    client,
                    database,
                    random.Random(seed + 2),
                    seconds=spread,
                    timeout=60 + conversions,
                )
            finally:
                figures.faults = await chaos.stop()
                await republisher.stop()
            queued = await _quiesce(database, names, timeout=60 + conversions / 5)
            figures.seconds = time.monotonic() - started
            await _figure(figures, the_plan, client, database, names, queued, settings)
            figures.republished = sum(republisher.copies.values())
            figures.duplicates_delivered -= figures.republished
    finally:
        codes = await services.stop()
        await database.close()
    figures.violations += [f"{name} exited {code} on SIGTERM" for name, code in codes.items() if code != 0]
    figures.violations += figures.faults.unclean_exits
    return figures


async def _send(
    the_plan: Plan, client: ContractClient, database, rng: random.Random, seconds: float, timeout: float
) -> None:
    sender = Sender(client, rng)
    await sender.register(the_plan)
    resources = sum(len(c.resources) for c in the_plan.clusters)
    await wait_until(
        lambda: _counted(database, "SELECT count(*) FROM inventory.resources", resources),
        timeout=timeout,
        what="every resource registered",
    )
    await sender.fund(the_plan)
    references = [c["reference"] for customer in the_plan.customers.values() for c in customer.credits]
    await wait_until(
        lambda: _counted(database, "SELECT count(*) FROM payment.ledger", len(references)),
        timeout=timeout,
        what="every wallet funded",
    )
    await sender.press(the_plan, seconds)
    with contextlib.suppress(TimeoutError):  # the invariants name each conversion that did not end
        await client.wait_for_outcomes(the_plan.request_ids, timeout=timeout)
    with contextlib.suppress(TimeoutError):  # and each renewal that did not settle
        await wait_until(lambda: _renewals_settled(database, the_plan), timeout=timeout, what="renewals settled")


class Republisher:
    """Publishes some of the services' events a second time, same id, as a redelivery would:
    every consumer must drop the copy."""

    SHARE = 0.05

    def __init__(self, client: ContractClient, rng: random.Random) -> None:
        self.client = client
        self.rng = rng
        self.copies: Counter = Counter()
        self._tasks: list[asyncio.Task] = []
        self._stopped = False
        client.on_event(self._on_event)

    def _on_event(self, event: Envelope) -> None:
        if self._stopped or not event.source.startswith("/stoppoc/") or self.copies[event.id]:
            return
        if self.rng.random() < self.SHARE:
            self.copies[event.id] += 1
            self._tasks.append(
                asyncio.create_task(
                    self.client.publish(
                        self.client.names.events, event.routing_key, event.to_json(), message_id=event.id
                    )
                )
            )

    async def stop(self) -> None:
        self._stopped = True
        await asyncio.gather(*self._tasks)


async def _counted(database, query: str, expected: int) -> bool:
    return await database.fetchval(query) >= expected


async def _renewals_settled(database, the_plan: Plan) -> bool:
    """Every paid resource of the plan is past its last paid_until and settled: renewed into the
    future, or due for deletion (after which nothing more happens to it); no renewal in flight,
    and every renewal by hand answered."""
    cases = the_plan.renewals
    if not cases:
        return True
    if any(c.paid_until is None or c.paid_until > datetime.now(UTC) for c in cases):
        return False
    ids = [rid for case in cases for rid in case.resource_ids]
    row = await database.fetchrow(
        "SELECT count(*) AS registered, count(*) FILTER (WHERE renewing_id IS NOT NULL"
        " OR (paid_until <= now() AND lifecycle_stage <> 'deletion_due')) AS unsettled"
        " FROM inventory.resources WHERE resource_id = any($1::text[])",
        ids,
    )
    manual = [c.manual["request_id"] for c in cases if c.manual]
    answered = await database.fetchval(
        "SELECT count(*) FROM inventory.renewals WHERE renewal_id = any($1::text[]) AND status <> 'requested'", manual
    )
    in_flight = await database.fetchval("SELECT count(*) FROM inventory.renewals WHERE status = 'requested'")
    return row["registered"] == len(ids) and row["unsettled"] == 0 and answered == len(manual) and in_flight == 0


async def queue_depths(names: Names) -> dict[str, int]:
    """Messages ready or unacknowledged in each service queue."""
    listing = await rabbitmqctl("list_queues", "name", "messages")
    wanted = {names.queue(service) for service in SERVICES}
    depths = dict.fromkeys(wanted, 0)
    for line in listing.splitlines():
        name, _, count = line.partition("\t")
        if name in wanted:
            depths[name] = int(count)
    return depths


async def _quiesce(database, names: Names, timeout: float) -> dict[str, int]:
    """Wait until every queue is drained and every outbox published, twice in a row (the
    notifier may still be handling the last events when the final one arrives)."""
    calm, queued = 0, {}
    deadline = time.monotonic() + timeout
    while calm < 2 and time.monotonic() < deadline:
        queued = await queue_depths(names)
        pending = sum(
            [await database.fetchval(f"SELECT count(*) FROM {s}.outbox WHERE published_at IS NULL") for s in SCHEMAS]
        )
        calm = calm + 1 if pending == 0 and not any(queued.values()) else 0
        await asyncio.sleep(0.2)
    return queued


async def _figure(
    figures: Figures,
    the_plan: Plan,
    client: ContractClient,
    database,
    names: Names,
    queued: dict[str, int],
    settings: Settings,
) -> None:
    letters = {service: await peek(settings.amqp_url, names, service) for service in SERVICES}
    evidence = await Evidence.gather(database, client, letters, queued)
    audit = check_all(the_plan, client, evidence)
    figures.invariants_checked, figures.violations = audit.checked, audit.violations
    for request_id in the_plan.request_ids:
        for final in client.outcomes.get(request_id, [])[:1]:
            figures.outcomes[f"{final.routing_key} {final.data.get('reason') or ''}".strip()] += 1
    for key in RENEWAL_EVENTS:
        if count := len(evidence.events[key]):
            figures.renewals[key] = count
    figures.events_seen = len(client.copies)
    figures.duplicates_delivered = sum(n - 1 for n in client.copies.values())
    deliveries = messages = 0
    for schema in SCHEMAS:
        row = await database.fetchrow(
            f"SELECT coalesce(sum(deliveries - 1), 0) AS d, count(*) AS m FROM {schema}.redeliveries"
        )
        deliveries, messages = deliveries + row["d"], messages + row["m"]
    figures.redeliveries = (deliveries, messages)
    ids = Counter()
    for service, service_letters in letters.items():
        for letter in service_letters:
            ids[letter.message_id] += 1
            if ids[letter.message_id] == 1:
                figures.dead_letters[(service, letter.headers.get("error"))] += 1
    figures.dead_letter_copies = sum(n - 1 for n in ids.values())
