"""``stoppoc demo``: registers a sample POC cluster, credits its customer's wallet, presses
Stop POC and shows each event as it happens, then a summary of what was converted and charged.

It talks to the services only through the public contract, as a portal backend would.
"""

import contextlib
import sys
import uuid
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from stoppoc.cli import runner
from stoppoc.cli.database import run_async
from stoppoc.contract.envelope import Envelope
from stoppoc.services import registry
from stoppoc.shared import topology
from stoppoc.shared.client import ContractClient
from stoppoc.shared.logging import configure
from stoppoc.shared.settings import Settings, get_settings

WALLET_CREDIT = 20_000_000
USAGE_CYCLE_MONTHS = 3


def sample_cluster(suffix: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    cluster_id = f"demo-cluster-{suffix}"
    cluster = {
        "cluster_id": cluster_id,
        "customer_id": f"demo-customer-{suffix}",
        "name": "shop-staging",
        "poc": True,
    }

    def resource(name: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "resource_id": f"{name}-{suffix}",
            "cluster_id": cluster_id,
            "kind": kind,
            "billing": "poc",
            "spec": spec,
        }

    resources = [
        resource("node-1", "server", {"flavor": "general-4c8g", "vcpu": 4, "ram_gib": 8}),
        resource("node-2", "server", {"flavor": "general-2c4g", "vcpu": 2, "ram_gib": 4}),
        resource("boot-1", "volume", {"size_gib": 50, "volume_type": "ssd-standard", "role": "boot"}),
        resource("boot-2", "volume", {"size_gib": 50, "volume_type": "ssd-standard", "role": "boot"}),
        resource("pvc-db", "volume", {"size_gib": 100, "volume_type": "ssd-premium", "role": "pvc"}),
        resource("pvc-logs", "volume", {"size_gib": 200, "volume_type": "hdd-standard", "role": "pvc"}),
        resource("ingress-lb", "load_balancer", {"flavor": "lb-small"}),
        resource("nightly-snap", "snapshot", {"size_gib": 50}),
    ]
    return cluster, resources


def demo_email(suffix: str) -> str:
    return f"demo-customer-{suffix}@example.com"


def describe(envelope: Envelope) -> str:
    data = envelope.data
    keys = ("round", "resource_id", "order_id", "total", "amount", "balance_after", "reason", "rounds", "resource_ids")
    shown = ", ".join(f"{k}={data[k]}" for k in keys if k in data)
    return f"[bold cyan]{envelope.routing_key:<22}[/] {shown}"


@click.command()
@click.option(
    "--services",
    type=click.Choice(["embedded", "external"]),
    default="embedded",
    show_default=True,
    help="embedded: run the four services inside the demo; external: use services already running.",
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the conversion to end.")
def demo(services: str, timeout: float) -> None:
    """Convert a sample POC cluster end to end and show what happened. Exit 0 only when the
    cluster's POC option is off."""
    ok = run_async(run_demo(get_settings(), embedded=services == "embedded", timeout=timeout))
    sys.exit(0 if ok else 1)


async def run_demo(settings: Settings, *, embedded: bool, timeout: float) -> bool:
    console = Console() if sys.stdout.isatty() else Console(width=140)
    # The demo's own output tells the story; the services only speak up about problems.
    settings = settings.model_copy(update={"log_level": "WARNING"})
    configure(settings.log_level)
    suffix = uuid.uuid4().hex[:6]
    cluster, resources = sample_cluster(suffix)
    names = topology.Names(settings.namespace)
    await runner.migrate_all(settings)

    services = runner.started(settings) if embedded else contextlib.nullcontext()
    watcher = ContractClient(
        settings.amqp_url,
        names,
        source="/stoppoc/demo",
        declare=registry.topology(),
        queues=topology.QueueOptions.of(settings),
    )
    async with watcher as client, services:
        client.on_event(
            lambda e: (
                console.print(describe(e))
                if e.data.get("cluster_id") == cluster["cluster_id"]
                or e.data.get("customer_id") == cluster["customer_id"]
                else None
            )
        )
        console.rule(f"Registering POC cluster {cluster['cluster_id']}")
        # How the customer hears about it: with STOPPOC_SMTP_HOST set (docker compose: Mailpit,
        # http://localhost:8025), the e-mail the notifier sends shows there.
        await client.send(
            "notifier.contact.upsert", {"customer_id": cluster["customer_id"], "email": demo_email(suffix)}
        )
        await client.send("inventory.cluster.upsert", cluster)
        for resource in resources:
            await client.send("inventory.resource.upsert", resource)
        await client.send(
            "payment.wallet.credit",
            {"customer_id": cluster["customer_id"], "amount": WALLET_CREDIT, "reference": f"demo-topup-{suffix}"},
        )
        last = resources[-1]["resource_id"]
        await client.wait_for("resource.registered", lambda d: d["resource_id"] == last, timeout=timeout)
        await client.wait_for("wallet.credited", lambda d: d["customer_id"] == cluster["customer_id"], timeout=timeout)

        request_id = f"demo-request-{suffix}"
        console.rule(f"Stop POC: {USAGE_CYCLE_MONTHS} months, auto-renew on")
        await client.send(
            "inventory.stop_poc.request",
            {
                "request_id": request_id,
                "customer_id": cluster["customer_id"],
                "cluster_id": cluster["cluster_id"],
                "usage_cycle_months": USAGE_CYCLE_MONTHS,
                "auto_renew": True,
                "coupon_code": None,
            },
        )
        outcome = await client.wait_for_outcome(request_id, timeout=timeout)
        console.print(summary(client, request_id, resources))
    stopped = outcome.routing_key == "cluster.poc_stopped"
    if stopped:
        console.print(f"[bold green]Cluster {cluster['cluster_id']} converted: its POC option is off.[/]")
        if settings.smtp_host:
            console.print(
                f"The customer is told by e-mail at {demo_email(suffix)} (sent through {settings.smtp_host})."
            )
    else:
        console.print(f"[bold red]Conversion ended with {outcome.routing_key}: {outcome.data.get('reason')}[/]")
    return stopped


def summary(client: ContractClient, request_id: str, resources: list[dict[str, Any]]) -> Table:
    def of_request(d: dict[str, Any]) -> bool:
        return d.get("request_id") == request_id

    lines = {line["resource_id"]: line for o in client.seen("order.created", of_request) for line in o.data["lines"]}
    converted = {rid: e.data for e in client.seen("resources.converted", of_request) for rid in e.data["resource_ids"]}
    charged = sum(e.data["amount"] for e in client.seen("payment.settled", of_request))
    table = Table(title=f"Stop POC {request_id}")
    for column in ("resource", "kind", "spec", "status", "price (VND)", "VAT incl. (VND)", "paid until"):
        table.add_column(column, justify="right" if "VND" in column else "left")
    for resource in resources:
        rid = resource["resource_id"]
        line, done = lines.get(rid), converted.get(rid)
        spec = (
            resource["spec"].get("flavor")
            or f"{resource['spec'].get('size_gib')} GiB {resource['spec'].get('volume_type', '')}"
        )
        table.add_row(
            rid,
            resource["kind"],
            spec,
            "converted" if done else "untouched",
            f"{line['total']:,}" if line else "-",
            f"{line['tax']:,}" if line else "-",
            done["paid_until"][:10] if done else "-",
        )
    table.add_section()
    table.add_row("total charged", "", "", "", f"{charged:,}", f"{sum(line['tax'] for line in lines.values()):,}", "")
    return table
