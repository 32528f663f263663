"""The metrics the services export: the names issue 11 lists, what a published event counts, and
the Grafana dashboard, every query of which must name metrics that exist."""

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from stoppoc.contract.envelope import new_envelope
from stoppoc.shared import metrics
from stoppoc.shared.metrics import REGISTRY, count_published, routing_key_label

DASHBOARD = Path(__file__).parents[2] / "deploy" / "monitoring" / "grafana" / "dashboards" / "stoppoc.json"
LISTED = {  # issue 11's list, with their labels
    "stoppoc_outbox_pending": {"service"},
    "stoppoc_outbox_oldest_age_seconds": {"service"},
    "stoppoc_dead_letters_total": {"service", "error"},
    "stoppoc_redeliveries_total": {"service"},
    "stoppoc_handler_retries_total": {"service"},
    "stoppoc_conversions_total": {"outcome"},
    "stoppoc_settled_vnd_total": {"kind"},
    "stoppoc_renewals_total": {"outcome"},
    "stoppoc_notifications_total": {"channel", "status"},
    "stoppoc_messages_received_total": {"service", "routing_key"},
    "stoppoc_messages_handled_total": {"service", "routing_key", "outcome"},
    "stoppoc_message_handling_seconds_bucket": {"service", "routing_key", "le"},
}


def exported() -> dict[str, set[str]]:
    """Every sample name the registry can expose, with its label names."""
    names: dict[str, set[str]] = {}
    for family in REGISTRY.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}
        labels = set(getattr(REGISTRY._names_to_collectors.get(family.name + "_total"), "_labelnames", ()))
        labels |= set(getattr(REGISTRY._names_to_collectors.get(family.name), "_labelnames", ()))
        for suffix in suffixes.get(family.type, [""]):
            names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


def test_every_metric_the_issue_lists_is_exported_with_its_labels_and_the_stoppoc_prefix():
    names = exported()
    for name, labels in LISTED.items():
        assert name in names, name
        assert names[name] == labels, (name, names[name])
    assert all(name.startswith("stoppoc_") for name in names)
    text = generate_latest(REGISTRY).decode()
    assert "# TYPE stoppoc_notifications_total counter" in text  # declared even before any sample


def test_every_dashboard_query_names_metrics_the_services_export():
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(queries) >= 10
    names = exported()
    for query in queries:
        used = re.findall(r"\bstoppoc_[a-z0-9_]+", query)
        assert used, query
        for name in used:
            assert name in names, f"{name} in {query!r} is not exported"
        # Grouping labels must exist on the metric too.
        for group in re.findall(r"by \(([^)]*)\)", query):
            for label in (part.strip() for part in group.split(",")):
                assert any(label in names[name] for name in used), f"{label} in {query!r}"
    covered = " ".join(queries)
    for topic in (
        "conversions",
        "message_age_seconds_bucket",
        "outbox_pending",
        "outbox_oldest_age",
        "dead_letters",
        "renewals",
        "notifications",
        "settled_vnd",
    ):
        assert f"stoppoc_{topic}" in covered, topic


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return value or 0.0


def body(routing_key: str, data: dict) -> bytes:
    return new_envelope(routing_key, data, source="/stoppoc/test").to_json()


def test_published_events_count_conversions_by_final_event_settled_vnd_by_kind_and_renewals():
    before = {
        "stopped": sample("stoppoc_conversions_total", outcome="cluster.poc_stopped"),
        "renewal_vnd": sample("stoppoc_settled_vnd_total", kind="renewal"),
        "conversion_vnd": sample("stoppoc_settled_vnd_total", kind="conversion"),
        "renewed": sample("stoppoc_renewals_total", outcome="resources.renewed"),
        "ordered": sample("stoppoc_published_messages_total", service="checkout", routing_key="order.created"),
    }
    count_published("inventory", "cluster.poc_stopped", body("cluster.poc_stopped", {"request_id": "r"}))
    count_published("payment", "payment.settled", body("payment.settled", {"amount": 1_234_567, "kind": "renewal"}))
    count_published("payment", "payment.settled", body("payment.settled", {"amount": 1_000}))  # before `kind` existed
    count_published("inventory", "resources.renewed", body("resources.renewed", {}))
    count_published("checkout", "order.created", body("order.created", {"total": 5}))

    assert sample("stoppoc_conversions_total", outcome="cluster.poc_stopped") == before["stopped"] + 1
    assert sample("stoppoc_settled_vnd_total", kind="renewal") == before["renewal_vnd"] + 1_234_567
    assert sample("stoppoc_settled_vnd_total", kind="conversion") == before["conversion_vnd"] + 1_000
    assert sample("stoppoc_renewals_total", outcome="resources.renewed") == before["renewed"] + 1
    assert (
        sample("stoppoc_published_messages_total", service="checkout", routing_key="order.created")
        == before["ordered"] + 1
    )


def test_routing_keys_outside_the_contract_share_one_label():
    assert routing_key_label("payment.wallet.credit") == "payment.wallet.credit"
    assert routing_key_label("inventory.cluster.explode") == "other"
    assert routing_key_label(None) == "other"


def test_the_notifier_counts_through_one_call():
    before = sample("stoppoc_notifications_total", channel="email", status="delivered")
    metrics.count_notification("email", "delivered")
    assert sample("stoppoc_notifications_total", channel="email", status="delivered") == before + 1


def test_the_exposition_parses_as_prometheus_text():
    families = {family.name for family in text_string_to_metric_families(generate_latest(REGISTRY).decode())}
    assert {"stoppoc_conversions", "stoppoc_outbox_pending", "stoppoc_process_resident_memory_bytes"} <= families
    assert generate_latest(CollectorRegistry()) == b""  # nothing leaks into other registries
