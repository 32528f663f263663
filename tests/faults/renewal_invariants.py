"""The promise for renewals, checked after a batch: each renewal decided once and announced
once, never left waiting for funds; every renewal charge ends with its resources renewed or
refunded; each resource's paid_until is its first one advanced by exactly the renewals paid,
each by the rule of its kind; each stage after paid_until at most once; what each case of the
plan had to come to, given its customer's funding."""

import json
from collections import Counter, defaultdict
from datetime import datetime

from stoppoc.services.inventory import billing

RENEWAL_OUTCOMES = {"renewed": "resources.renewed", "failed": "renewal.failed", "rejected": "renewal.rejected"}
STAGES = ("resource.expired", "resource.suspended", "resource.deletion_due")
RENEWAL_EVENTS = (*RENEWAL_OUTCOMES.values(), "renewal.requested", *STAGES, "resource.resumed", "resource.expiring")


def _moment(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def renewals(audit, plan, client, evidence) -> None:
    """Each renewal ends once, with the event its status says, and is never left in flight."""
    finals: dict[str, list[str]] = defaultdict(list)
    for key in RENEWAL_OUTCOMES.values():
        for event in evidence.events[key]:
            finals[event.data["renewal_id"]].append(key)
    for renewal_id, row in evidence.renewals.items():
        expected = RENEWAL_OUTCOMES.get(row["status"])
        audit.check(expected is not None, f"renewal {renewal_id} left {row['status']}")
        audit.check(finals[renewal_id] == [expected], f"renewal {renewal_id} ({row['status']}): {finals[renewal_id]}")
    for resource_id, resource in evidence.resources.items():
        audit.check(resource["renewing_id"] is None, f"{resource_id} still held by renewal {resource['renewing_id']}")


def renewal_charges(audit, plan, client, evidence) -> None:
    """A renewal order never waits for funds; every renewal line paid ends renewed or refunded."""
    renewed: dict[str, set[str]] = defaultdict(set)
    for event in evidence.events["resources.renewed"]:
        renewed[event.data["renewal_id"]].update(event.data["resource_ids"])
    refunds = {e["reference"]: e["amount"] for e in evidence.ledger if e["reference"].startswith("refund:")}
    for order_id, order in evidence.orders.items():
        if order["kind"] != "renewal":
            continue
        payment = evidence.payments.get(order_id)
        status = payment and payment["status"]
        audit.check(status in ("settled", "failed"), f"renewal order {order_id}: payment {status}")
        audit.check(order["renewal_id"] in evidence.renewals, f"renewal order {order_id} of no renewal")
        if status != "settled":
            continue
        for line in json.loads(payment["lines"]):
            rid, total = line["resource_id"], line["total"]
            done = rid in renewed[order["renewal_id"]]
            refunded = refunds.get(f"refund:{payment['payment_id']}:{rid}") == total
            audit.check(done != refunded or total == 0, f"{rid} paid {total} by {order_id}: renewed {done}, refunded")


def paid_periods(audit, plan, client, evidence) -> None:
    """Each planned resource's paid_until is its first one, advanced once per paid renewal by the
    rule of that renewal's kind (from paid_until, or from the day it was paid if later)."""
    settled_at = {
        e.data["renewal_id"]: _moment(e.data["settled_at"])
        for e in evidence.events["payment.settled"]
        if e.data.get("kind") == "renewal"
    }
    steps: dict[str, list[dict]] = defaultdict(list)
    for event in evidence.events["resources.renewed"]:
        for step in event.data["resources"]:
            steps[step["resource_id"]].append({**step, "renewal_id": event.data["renewal_id"]})
    for case in plan.renewals:
        for rid in case.resource_ids:
            current = case.paid_until
            for step in sorted(steps[rid], key=lambda s: _moment(s["previous_paid_until"])):
                audit.check(_moment(step["previous_paid_until"]) == current, f"{rid}: {step} renewed not {current}")
                row = evidence.renewals.get(step["renewal_id"])
                paid_at = settled_at.get(step["renewal_id"])
                if row is None or current is None or paid_at is None:
                    audit.check(False, f"{rid}: renewal {step['renewal_id']} unknown or never paid")
                    continue
                due = billing.renewed_until(current, paid_at, row["usage_cycle_months"], row["reason"])
                audit.check(_moment(step["paid_until"]) == due, f"{rid}: renewed until {step['paid_until']}, not {due}")
                current = _moment(step["paid_until"])
            final = evidence.resources.get(rid)
            final_until = final and final["paid_until"]
            audit.check(final_until == current, f"{rid}: paid until {final_until}, its renewals say {current}")


def stages(audit, plan, client, evidence) -> None:
    """Each stage of a paid period at most once, and only once the period is over."""
    seen = Counter(
        (key, e.data["resource_id"], _moment(e.data["paid_until"])) for key in STAGES for e in evidence.events[key]
    )
    for (key, rid, paid_until), count in seen.items():
        audit.check(count == 1, f"{rid}: {key} {count} times for paid_until {paid_until}")
    for key in STAGES:
        for event in evidence.events[key]:
            audit.check(_moment(event.time) >= _moment(event.data["paid_until"]), f"{key} {event.id} before paid_until")


def expected_renewals(audit, plan, client, evidence) -> None:
    """What each case had to come to: a funded customer's renewals all renewed, a cycle not
    offered rejected, a lapsed resource due for deletion after each stage once."""
    by_cluster: dict[str, list] = defaultdict(list)
    for row in evidence.renewals.values():
        by_cluster[row["cluster_id"]].append(row)
    stage_events = {(key, e.data["resource_id"]) for key in STAGES for e in evidence.events[key]}
    for case in plan.renewals:
        funding = plan.customers[case.customer_id].funding
        statuses = sorted(row["status"] for row in by_cluster[case.cluster.cluster_id])
        what = f"{case.cluster.cluster_id} ({case.twist}, {funding})"
        if case.twist == "lapse":
            audit.check(statuses == [], f"{what}: renewals {statuses}")
        elif case.twist == "manual_invalid":
            rejected = evidence.renewals.get(case.manual["request_id"]) if case.manual else None
            audit.check(rejected is not None and rejected["failure_reason"] == "invalid_usage_cycle", f"{what}")
        elif funding == "rich":
            audit.check(statuses == ["renewed"], f"{what}: renewals {statuses}")
        if case.twist == "lapse" or (case.twist == "late" and funding == "broke"):
            for rid in case.resource_ids:
                audit.check(all((key, rid) in stage_events for key in STAGES), f"{what}: {rid} missed a stage")


CHECKS = (renewals, renewal_charges, paid_periods, stages, expected_renewals)
