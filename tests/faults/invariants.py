"""The promise, checked after a batch from the services' own tables and the events observed:
every conversion has exactly one final event, the customer is charged at most once per round,
every charge ends with its resources real or refunded, wallets add up to the VND, nothing is
lost, and only the poison is dead-lettered."""

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from stoppoc.cli.dlq import DeadLetter
from stoppoc.contract.envelope import Envelope
from stoppoc.services.notifier.domain import NOTIFIED_EVENTS
from stoppoc.shared.client import ContractClient
from tests.faults import renewal_invariants
from tests.faults.probes import SCHEMAS
from tests.faults.workload import BROKE_CREDIT, COUPON_REASONS, Plan

REFUND = "refund:"
PRESSED_AGAIN = {"conversion_in_progress", "cluster_not_poc"}
OUTCOME_OF_STATUS = {
    "stopped": "cluster.poc_stopped",
    "completed": "stop_poc.completed",
    "failed": "stop_poc.failed",
    "rejected": "stop_poc.rejected",
}


@dataclass
class Audit:
    checked: int = 0
    violations: list[str] = field(default_factory=list)

    def check(self, holds: bool, what: str) -> None:
        self.checked += 1
        if not holds:
            self.violations.append(what)


@dataclass
class Evidence:
    """What the services' tables and the observed events say once the batch has settled."""

    conversions: dict
    resources: dict
    renewals: dict
    clusters: dict
    orders: dict
    payments: dict
    wallets: dict
    ledger: list
    notified: set
    pending_outbox: dict
    queued: dict
    dead_letters: dict[str, list[DeadLetter]]
    events: dict[str, list[Envelope]]  # distinct events of the services, by routing key

    @classmethod
    async def gather(cls, database, client: ContractClient, dead_letters, queued) -> "Evidence":
        async def keyed(query: str, key: str) -> dict:
            return {row[key]: row for row in await database.fetch(query)}

        distinct: dict[str, Envelope] = {}
        for event in client.events:
            if event.source.startswith("/stoppoc/"):
                distinct.setdefault(event.id, event)
        events: dict[str, list[Envelope]] = defaultdict(list)
        for event in distinct.values():
            events[event.routing_key].append(event)
        return cls(
            conversions=await keyed("SELECT * FROM inventory.conversions", "request_id"),
            resources=await keyed("SELECT * FROM inventory.resources", "resource_id"),
            renewals=await keyed("SELECT * FROM inventory.renewals", "renewal_id"),
            clusters=await keyed("SELECT * FROM inventory.clusters", "cluster_id"),
            orders=await keyed("SELECT * FROM checkout.orders", "order_id"),
            payments=await keyed("SELECT * FROM payment.payments", "order_id"),
            wallets={r["customer_id"]: r["balance"] for r in await database.fetch("SELECT * FROM payment.wallets")},
            ledger=await database.fetch("SELECT * FROM payment.ledger ORDER BY entry_id"),
            notified={
                r["source_message_id"]
                for r in await database.fetch("SELECT source_message_id FROM notifier.notifications")
            },
            pending_outbox={
                s: await database.fetchval(f"SELECT count(*) FROM {s}.outbox WHERE published_at IS NULL")
                for s in SCHEMAS
            },
            queued=queued,
            dead_letters=dead_letters,
            events=events,
        )


def check_all(plan: Plan, client: ContractClient, evidence: Evidence) -> Audit:
    audit = Audit()
    for check in (
        outcomes,
        expected_outcomes,
        subsets,
        conflicting_credits,
        creation_order,
        clusters,
        orders,
        charges,
        resources,
        wallets,
        nothing_lost,
        dead_letters,
        *renewal_invariants.CHECKS,
    ):
        check(audit, plan, client, evidence)
    return audit


def outcomes(audit: Audit, plan: Plan, client: ContractClient, evidence: Evidence) -> None:
    """Each conversion ends in exactly one final event, which is what inventory recorded."""
    for request_id in plan.request_ids:
        finals = client.outcomes.get(request_id, [])
        audit.check(len(finals) == 1, f"{request_id}: {len(finals)} final events {[e.routing_key for e in finals]}")
        row = evidence.conversions.get(request_id)
        audit.check(row is not None, f"{request_id}: no conversion recorded by inventory")
        if finals and row:
            audit.check(
                OUTCOME_OF_STATUS.get(row["status"]) == finals[0].routing_key,
                f"{request_id}: inventory says {row['status']}, the event {finals[0].routing_key}",
            )


def expected_outcomes(audit: Audit, plan: Plan, client: ContractClient, evidence: Evidence) -> None:
    """What each request should have come to, given its twist and its customer's funding."""

    def outcome(request_id: str) -> tuple[str, str | None]:
        final = (client.outcomes.get(request_id) or [None])[0]
        if final is None:
            return ("none", None)
        failed_round = final.data.get("failed_round") or {}
        return (final.routing_key, final.data.get("reason") or failed_round.get("reason"))

    for conversion in plan.conversions:
        funding = plan.customers[conversion.cluster.customer_id].funding
        got = outcome(conversion.request_id)
        if conversion.twist == "coupon":
            audit.check(got[0] == "stop_poc.failed" and got[1] in COUPON_REASONS, f"{conversion.request_id}: {got}")
        elif conversion.twist == "cycle":
            audit.check(got == ("stop_poc.failed", "invalid_usage_cycle"), f"{conversion.request_id}: {got}")
        elif conversion.twist == "price_changed":
            audit.check(got == ("stop_poc.failed", "price_changed"), f"{conversion.request_id}: {got}")
        elif conversion.twist == "subset":
            # The rest of the cluster stays POC: the conversion completes, it never stops the cluster.
            paid = got == ("stop_poc.completed", None)
            unpaid = got == ("stop_poc.failed", "insufficient_funds")
            expected = {"rich": paid, "broke": unpaid}.get(funding, paid or unpaid)
            audit.check(expected, f"{conversion.request_id} (a subset, {funding}): {got}")
        elif conversion.second:
            pair = sorted([got, outcome(conversion.second["request_id"])], key=lambda o: o[0] != "stop_poc.rejected")
            pressed_again = pair[0][0] == "stop_poc.rejected" and pair[0][1] in PRESSED_AGAIN
            audit.check(pressed_again or funding != "rich", f"{conversion.request_id} pressed twice: {pair}")
            if funding == "rich":
                audit.check(pair[1][0] == "cluster.poc_stopped", f"{conversion.request_id} pressed twice: {pair}")
        elif funding == "rich":
            audit.check(got[0] == "cluster.poc_stopped", f"{conversion.request_id} (funded): {got}")
        elif funding == "broke":
            audit.check(got == ("stop_poc.failed", "insufficient_funds"), f"{conversion.request_id} (broke): {got}")
        else:
            # A node joining makes a round 2, which a short wallet may not pay: round 1 stays.
            partly = conversion.twist == "joiner" and got == ("stop_poc.completed", "insufficient_funds")
            audit.check(
                got[0] == "cluster.poc_stopped" or got == ("stop_poc.failed", "insufficient_funds") or partly,
                f"{conversion.request_id} (partly funded): {got}",
            )


def subsets(audit: Audit, plan: Plan, client: ContractClient, evidence: Evidence) -> None:
    """A subset converts what was confirmed, or nothing: the rest is never charged nor made real."""
    for conversion in plan.conversions:
        confirmed = conversion.request.get("resource_ids")
        if confirmed is None:
            continue
        rest = set(conversion.cluster.convertible_ids) - set(confirmed)
        request_id = conversion.request_id
        charged = {
            line["resource_id"]
            for payment in evidence.payments.values()
            if payment["request_id"] == request_id
            for line in json.loads(payment["lines"])
        }
        audit.check(not charged & rest, f"{request_id}: charged {sorted(charged & rest)}, never confirmed")
        converted = {rid for rid in rest if evidence.resources[rid]["converted_request_id"] == request_id}
        audit.check(not converted, f"{request_id}: made {sorted(converted)} real, never confirmed")
        final = (client.outcomes.get(request_id) or [None])[0]
        if final is not None and final.routing_key == "stop_poc.completed":
            audit.check(
                set(final.data["converted_resource_ids"]) == set(confirmed)
                and rest <= set(final.data["poc_remaining_resource_ids"]),
                f"{request_id}: completed with {final.data['converted_resource_ids']} of {confirmed}",
            )


def conflicting_credits(audit: Audit, plan: Plan, client: ContractClient, evidence: Evidence) -> None:
    """A credit reusing a reference already credited is refused, said once, and credits nothing
    (the wallets check finds each customer's credits to be exactly their own top-ups)."""
    refused = Counter(
        (e.data["customer_id"], e.data["amount"], e.data["reference"], e.data["reason"])
        for e in evidence.events["wallet.credit_rejected"]
        if e.data["reason"] == "reference_conflict"
    )
    for customer in plan.customers.values():
        for credit in customer.conflicting_credits:
            key = (credit["customer_id"], credit["amount"], credit["reference"], "reference_conflict")
            audit.check(refused[key] == 1, f"conflicting credit {credit}: refused {refused[key]} times")
    expected = sum(len(c.conflicting_credits) for c in plan.customers.values())
    audit.check(sum(refused.values()) == expected, f"{sum(refused.values())} credits refused, {expected} sent to be")


def creation_order(audit: Audit, plan: Plan, client: ContractClient, evidence: Evidence) -> None:
    """Payment decided each customer's orders in the order checkout created them."""
    decided = defaultdict(list)
    for payment in sorted(evidence.payments.values(), key=lambda p: p["seq"]):
        order = evidence.orders.get(payment["order_id"])
        if order is not None and order["customer_sequence"] is not None:
            decided[payment["customer_id"]].append(order["customer_sequence"])
    for customer_id, sequences in decided.items():
        audit.check(sequences == sorted(sequences), f"{customer_id}: orders decided in the order {sequences}")


def clusters(audit: Audit, plan: Plan, client: ContractClient, evidence: Evidence) -> None:
    """A cluster is stopped at most once, and its POC option is off exactly when it was."""
    stopped = Counter(e.data["cluster_id"] for e in evidence.events["cluster.poc_stopped"])
    for cluster in plan.clusters:
        audit.check(
            stopped[cluster.cluster_id] <= 1, f"{cluster.cluster_id} stopped {stopped[cluster.cluster_id]} times"
        )
        row = evidence.clusters.get(cluster.cluster_id)
        audit.check(
            row is not None and row["poc"] == (stopped[cluster.cluster_id] == 0),
            f"{cluster.cluster_id}: POC option {row and row['poc']} after {stopped[cluster.cluster_id]} stops",
        )


def orders(audit: Audit, plan: Plan, client: ContractClient, evidence: Evidence) -> None:
    """Order totals are the sums of their lines; one order per round, as announced."""
    for order_id, order in evidence.orders.items():
        lines = json.loads(order["lines"])
        for column, part in (("total", "total"), ("subtotal", "amount"), ("discount", "discount"), ("tax", "tax")):
            audit.check(
                order[column] == sum(line[part] for line in lines),
                f"order {order_id}: {column} {order[column]} is not the sum of its lines",
            )
        audit.check(
            all(line["total"] == line["amount"] - line["discount"] >= 0 for line in lines),
            f"order {order_id}: a line's total is not its amount less its discount",
        )
    announced = defaultdict(set)
    for event in evidence.events["order.created"]:
        announced[(event.data["request_id"], event.data["round"])].add(event.data["order_id"])
        order = evidence.orders.get(event.data["order_id"])
        audit.check(
            order is not None and order["total"] == event.data["total"],
            f"order.created {event.data['order_id']} does not match checkout's order",
        )
    for round_, order_ids in announced.items():
        audit.check(len(order_ids) == 1, f"round {round_} has orders {order_ids}")
    audit.check(len(announced) == len(evidence.orders), "orders without an order.created, or the other way round")


def charges(audit: Audit, plan: Plan, client: ContractClient, evidence: Evidence) -> None:
    """One payment per order; a settled one is one debit of exactly the order total; at most
    one charge per round; each settlement announced once."""
    debits = defaultdict(list)
    for entry in evidence.ledger:
        if entry["kind"] == "debit":
            debits[entry["order_id"]].append(entry["amount"])
    for order_id, order in evidence.orders.items():
        payment = evidence.payments.get(order_id)
        audit.check(
            payment is not None and payment["status"] in ("settled", "failed"),
            f"order {order_id}: payment {payment and payment['status']}",
        )
        if payment is None:
            continue
        if payment["status"] == "settled":
            audit.check(payment["amount"] == order["total"], f"order {order_id}: paid {payment['amount']}")
            expected = [-order["total"]] if order["total"] else []
            audit.check(
                debits[order_id] == expected, f"order {order_id}: debits {debits[order_id]} for {order['total']}"
            )
        else:
            audit.check(not debits[order_id], f"order {order_id}: a failed payment debited {debits[order_id]}")
    per_round = Counter()
    for order_id, amounts in debits.items():
        order = evidence.orders.get(order_id)
        audit.check(order is not None, f"a debit {amounts} for no order ({order_id})")
        if order:
            per_round[(order["request_id"], order["round"])] += len(amounts)
    twice = [round_ for round_, n in per_round.items() if n > 1]
    audit.check(not twice, f"rounds charged twice: {twice}")
    settled = evidence.events["payment.settled"]
    audit.check(
        sorted(e.data["order_id"] for e in settled)
        == sorted(o for o, p in evidence.payments.items() if p["status"] == "settled"),
        "payment.settled events do not match the settled payments",
    )
    for event in settled:
        order = evidence.orders.get(event.data["order_id"])
        audit.check(
            order is not None and event.data["amount"] == order["total"],
            f"payment.settled {event.id}: {event.data['amount']} for an order of {order and order['total']}",
        )


def resources(audit: Audit, plan: Plan, client: ContractClient, evidence: Evidence) -> None:
    """Every charge ends with its resources real, or its money back as credit; nothing is real
    without a charge, and nothing stays held."""
    refunds = {e["reference"]: e["amount"] for e in evidence.ledger if e["reference"].startswith(REFUND)}
    credited = {e.data["reference"] for e in evidence.events["wallet.credited"]}
    paid_lines = set()
    for payment in evidence.payments.values():
        if payment["status"] != "settled" or json.loads(payment["terms"] or "{}").get("kind") == "renewal":
            continue  # renewals: renewal_invariants.renewal_charges
        for line in json.loads(payment["lines"]):
            rid, total = line["resource_id"], line["total"]
            paid_lines.add((payment["request_id"], rid))
            resource = evidence.resources.get(rid)
            real = (
                resource is not None
                and resource["converted_request_id"] == payment["request_id"]
                and resource["billing"] == "real"
            )
            reference = f"{REFUND}{payment['payment_id']}:{rid}"
            refunded = refunds.get(reference) == total and reference in credited
            audit.check(
                real != refunded or total == 0,
                f"{rid} paid {total} by {payment['payment_id']}: real {real}, refunded {refunded}",
            )
    for reference in refunds:
        _, payment_id, rid = reference.split(":", 2)
        audit.check(
            any(p["payment_id"] == payment_id for p in evidence.payments.values()), f"refund {reference} for no payment"
        )
    for rid, resource in evidence.resources.items():
        if resource["converted_request_id"]:
            audit.check((resource["converted_request_id"], rid) in paid_lines, f"{rid} is real but was never paid")
        audit.check(
            resource["converting_request_id"] is None, f"{rid} still held by {resource['converting_request_id']}"
        )


def wallets(audit: Audit, plan: Plan, client: ContractClient, evidence: Evidence) -> None:
    """Balance = sum of the ledger = credits - debits + refunds, to the VND, never below zero."""
    entries = defaultdict(list)
    for entry in evidence.ledger:
        entries[entry["customer_id"]].append(entry)
    strangers = set(entries) - set(plan.customers)
    audit.check(not strangers, f"ledger rows of unknown customers: {strangers}")
    debited = Counter()
    for event in evidence.events["payment.settled"]:
        debited[event.data["customer_id"]] += event.data["amount"]
    refunded = Counter()
    for event in evidence.events["wallet.credited"]:
        if event.data["reference"].startswith(REFUND):
            refunded[event.data["customer_id"]] += event.data["amount"]
    for customer_id, customer in plan.customers.items():
        balance = evidence.wallets.get(customer_id, 0)
        running = 0
        for entry in entries[customer_id]:
            running += entry["amount"]
            audit.check(
                running == entry["balance_after"] >= 0,
                f"{customer_id}: ledger entry {entry['entry_id']} says {entry['balance_after']}, sum {running}",
            )
        audit.check(balance == running >= 0, f"{customer_id}: balance {balance}, ledger sum {running}")
        credits = {
            e["reference"]: e["amount"]
            for e in entries[customer_id]
            if e["amount"] > 0 and not e["reference"].startswith(REFUND)
        }
        audit.check(
            credits == {c["reference"]: c["amount"] for c in customer.credits},
            f"{customer_id}: credits {credits} are not the top-ups sent, each once",
        )
        debits = -sum(e["amount"] for e in entries[customer_id] if e["amount"] < 0)
        refunds = sum(e["amount"] for e in entries[customer_id] if e["reference"].startswith(REFUND))
        audit.check(debits == debited[customer_id], f"{customer_id}: debits {debits}, settled {debited[customer_id]}")
        audit.check(
            refunds == refunded[customer_id], f"{customer_id}: refunds {refunds}, credited {refunded[customer_id]}"
        )
        audit.check(
            balance == sum(credits.values()) - debits + refunds,
            f"{customer_id}: balance {balance} is not credits - debits + refunds",
        )
        if customer.funding == "broke":
            audit.check(balance == BROKE_CREDIT, f"{customer_id} could pay nothing yet has {balance}")


def nothing_lost(audit: Audit, plan: Plan, client: ContractClient, evidence: Evidence) -> None:
    """Every outbox row published, every queue drained, every outcome told to its customer."""
    for schema, pending in evidence.pending_outbox.items():
        audit.check(pending == 0, f"{schema}: {pending} outbox rows never published")
    for queue, messages in evidence.queued.items():
        audit.check(messages == 0, f"{queue}: {messages} messages never handled")
    notifiable = {e.id for key in NOTIFIED_EVENTS for e in evidence.events[key]}
    audit.check(notifiable <= evidence.notified, f"{len(notifiable - evidence.notified)} events never notified")
    audit.check(evidence.notified <= notifiable, f"{len(evidence.notified - notifiable)} notifications of no event")


def dead_letters(audit: Audit, plan: Plan, client: ContractClient, evidence: Evidence) -> None:
    """Only the poison is dead-lettered, each in the queue of the service it was for, with its reason."""
    found = {
        (service, letter.message_id, letter.headers.get("error"))
        for service, letters in evidence.dead_letters.items()
        for letter in letters
    }
    expected = {(p.service, p.message_id, p.error) for p in plan.poison}
    audit.check(
        found == expected, f"dead letters {sorted(found - expected)} unexpected, {sorted(expected - found)} missing"
    )
