"""The figures of a ``stoppoc bench`` run: as JSON (``--json``) and as text."""

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from stoppoc.cli.bench_chain import ChainFigures
from stoppoc.cli.bench_checks import Reconciliation
from stoppoc.cli.bench_load import Lone, Outcome

EXPECTED_OUTCOME = "cluster.poc_stopped"  # every bench cluster is valid and its wallet covers it
PROBLEMS_SHOWN = 20


def percentile(ordered: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least ``p`` percent of them at or below it."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class BenchRun:
    database: str
    namespace: str
    conversions: int
    concurrency: int
    seconds: float  # from the first request to the last final event
    drained_seconds: float  # from the first request until every service had nothing left to do
    outcomes: list[Outcome]
    not_ended: list[str]
    handled: dict[str, int]  # messages each service handled in the load
    handled_in_run: dict[str, int]  # … in the whole run (registrations and the lone conversions too)
    cpu_seconds: dict[str, float | None]  # each service, "broker", "database", in the load
    peak_rss_mib: dict[str, float]
    rss_mib: dict[str, list[tuple[float, float]]]
    lone: Lone
    chain: ChainFigures  # measured before the services start
    reconciliation: Reconciliation
    exit_codes: dict[str, int]

    def problems(self) -> list[str]:
        found = [f"{len(self.not_ended)} conversions did not end"] if self.not_ended else []
        unexpected = {key: n for key, n in self.outcome_counts().items() if key != EXPECTED_OUTCOME}
        if unexpected:
            found.append(f"conversions that should have stopped their cluster ended otherwise: {unexpected}")
        if self.reconciliation.problems:
            found.append(f"{len(self.reconciliation.problems)} wallets do not reconcile")
        if failed := {s: code for s, code in self.exit_codes.items() if code != 0}:
            found.append(f"services exited with {failed}")
        return found

    def outcome_counts(self) -> dict[str, int]:
        return dict(Counter(" ".join(filter(None, (o.routing_key, o.reason))) for o in self.outcomes))

    def figures(self, *, memory: bool = False) -> dict[str, Any]:
        latencies = sorted(o.latency_ms for o in self.outcomes)
        total = sum(self.handled.values())
        deliveries_per_second = total / self.drained_seconds
        hops = _median_int(self.lone.hops)
        lone_p50 = _median(self.lone.latency_ms)
        hop_ms = lone_p50 / hops if hops else None
        figures: dict[str, Any] = {
            "database": self.database,
            "namespace": self.namespace,
            "conversions": self.conversions,
            "concurrency": self.concurrency,
            "seconds": self.seconds,
            "conversions_per_second": len(self.outcomes) / self.seconds,
            "outcomes": self.outcome_counts(),
            "not_ended": len(self.not_ended),
            "handled_deliveries": {
                "by_service": self.handled,
                "total": total,
                "seconds": self.drained_seconds,
                "per_second": deliveries_per_second,
                "per_conversion": total / self.conversions,
                "in_whole_run": sum(self.handled_in_run.values()),
            },
            "latency_ms": {p: percentile(latencies, q) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))}
            | {"max": latencies[-1]}
            if latencies
            else {},
            "cpu_ms_per_conversion": {
                part: None if spent is None else spent * 1000 / self.conversions
                for part, spent in self.cpu_seconds.items()
            },
            "peak_rss_mib": self.peak_rss_mib,
            "unloaded": {
                "conversions": len(self.lone.latency_ms),
                "p50_ms": lone_p50,
                "hops": hops,
                "hop_ms": hop_ms,
                "by_hop_ms": self.lone.hop_medians(),
            },
            "bare_chain": {
                "queue_type": self.chain.queue_type,
                "in_flight": self.chain.in_flight,
                "chains": self.chain.chains,
                "seconds": self.chain.seconds,
                "chains_per_second": self.chain.chains_per_second,
                "hops_per_second": self.chain.hops_per_second,
                "alone_p50_ms": self.chain.alone_p50_ms,
                "hop_ms": self.chain.hop_ms,
            },
            "ratios": {
                "deliveries_per_second_to_bare_hops_per_second": deliveries_per_second / self.chain.hops_per_second,
                "unloaded_hop_ms_to_bare_hop_ms": hop_ms / self.chain.hop_ms if hop_ms else None,
            },
            "wallets": {
                "checked": self.reconciliation.wallets,
                "reconciled": self.reconciliation.reconciled,
                "problems": dict(list(self.reconciliation.problems.items())[:PROBLEMS_SHOWN]),
            },
            "service_exit_codes": self.exit_codes,
            "problems": self.problems(),
        }
        if memory:
            figures["rss_mib"] = {
                service: [[round(t, 1), round(m, 1)] for t, m in s] for service, s in self.rss_mib.items()
            }
        return figures


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


def _median_int(values: list[int]) -> int:
    return sorted(values)[len(values) // 2] if values else 0


def _by(values: dict[str, Any], unit: str, digits: int = 1) -> str:
    return ", ".join(f"{key} {'-' if v is None else f'{v:,.{digits}f}'}{unit}" for key, v in values.items())


def render(figures: dict[str, Any], resources: str) -> str:
    f = figures
    handled, latency, lone, chain, ratios = (
        f["handled_deliveries"],
        f["latency_ms"],
        f["unloaded"],
        f["bare_chain"],
        f["ratios"],
    )
    lines = [
        f"stoppoc bench: {f['conversions']} conversions, {f['concurrency']} in flight; each cluster {resources}",
        f"  conversions      {f['conversions_per_second']:.1f}/s ({f['seconds']:.1f} s); "
        f"ended: {_counts(f['outcomes'])}" + (f"; NOT ENDED {f['not_ended']}" if f["not_ended"] else ""),
        f"  deliveries       {handled['per_second']:.0f} handled/s ({handled['total']:,} in "
        f"{handled['seconds']:.1f} s, {handled['per_conversion']:.1f} a conversion: {_counts(handled['by_service'])})",
        "  latency          request to final event: "
        + (", ".join(f"{p} {ms:.0f} ms" for p, ms in latency.items()) or "-"),
        f"  unloaded         one at a time: p50 {lone['p50_ms']:.1f} ms over {lone['hops']} hops = "
        f"{_number(lone['hop_ms'], 2)} ms a hop ({_by(lone['by_hop_ms'], ' ms')})",
        f"  CPU a conversion {_by(f['cpu_ms_per_conversion'], ' ms')} (broker: the whole node; bench: this driver)",
        f"  peak memory      {_by(f['peak_rss_mib'], ' MiB', 0)}",
        f"  bare chain       {chain['in_flight']} in flight, {chain['queue_type']} queues: "
        f"{chain['chains_per_second']:.0f} chains/s = "
        f"{chain['hops_per_second']:.0f} hops/s; one alone p50 {chain['alone_p50_ms']:.1f} ms = "
        f"{chain['hop_ms']:.2f} ms a hop",
        f"  ratios           handled deliveries/s to bare hops/s "
        f"{ratios['deliveries_per_second_to_bare_hops_per_second']:.2f}; "
        f"unloaded hop to bare hop {_number(ratios['unloaded_hop_ms_to_bare_hop_ms'], 2)}",
        f"  wallets          {f['wallets']['reconciled']} of {f['wallets']['checked']} reconciled",
        f"  whole run        {handled['in_whole_run']:,} messages handled (registrations included); "
        f"services exited {_counts(f['service_exit_codes'])}",
    ]
    lines += [f"  memory           {line}" for line in _memory_lines(f.get("rss_mib"))]
    lines += [f"  PROBLEM          {problem}" for problem in f["problems"]]
    lines += [f"    {customer}: {'; '.join(p)}" for customer, p in f["wallets"]["problems"].items()]
    return "\n".join(lines)


def _memory_lines(rss: dict[str, list[list[float]]] | None, rows: int = 10) -> list[str]:
    """Each service's resident memory at ``rows`` moments spread over the run."""
    if not rss:
        return []
    services = list(rss)
    length = min(len(samples) for samples in rss.values())
    if not length:
        return []
    picks = sorted({round(i * (length - 1) / (rows - 1)) for i in range(rows)})
    lines = ["seconds " + " ".join(f"{s:>10}" for s in services) + "  (MiB resident)"]
    for i in picks:
        lines.append(f"{rss[services[0]][i][0]:>7.0f} " + " ".join(f"{rss[s][i][1]:>10.1f}" for s in services))
    return lines


def _counts(values: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value:,}" for key, value in values.items()) or "-"


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
