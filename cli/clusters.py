"""``stoppoc clusters``: clusters, their resources and how each is billed."""

from typing import Any

import click

from stoppoc.cli.database import fail, read
from stoppoc.cli.output import json_option, show
from stoppoc.services.inventory.queries import QUERIES as INVENTORY
from stoppoc.shared.queries import BoundQueries


@click.group()
def clusters() -> None:
    """Clusters and their resources: POC or paid, usage cycle, auto-renew, paid until, state."""


@clusters.command("list")
@click.option("--customer", help="Only this customer's clusters.")
@json_option
def list_clusters(customer: str | None, as_json: bool) -> None:
    async def query(inventory: BoundQueries) -> Any:
        return await inventory.list_clusters(customer_id=customer)

    rows = read(query, inventory=INVENTORY)
    show(rows, ["cluster_id", "customer_id", "name", "poc", "poc_expires_at", "poc_stopped_at"], as_json=as_json)


@clusters.command("show")
@click.argument("cluster_id")
@json_option
def show_cluster(cluster_id: str, as_json: bool) -> None:
    async def query(inventory: BoundQueries) -> Any:
        return await inventory.cluster(cluster_id=cluster_id), await inventory.cluster_billing(cluster_id=cluster_id)

    cluster, resources = read(query, inventory=INVENTORY)
    if cluster is None:
        fail(f"no cluster {cluster_id!r}")
    # state: poc, or where the paid period stands (active, expired, suspended, deletion_due).
    columns = [
        "resource_id",
        "kind",
        "billing",
        "state",
        "paid_until",
        "auto_renew",
        "usage_cycle_months",
        "converting",
        "renewing",
    ]
    title = f"{cluster_id} ({cluster.name}) of {cluster.customer_id}: POC {'on' if cluster.poc else 'off'}"
    show(resources, columns, as_json=as_json, title=title)
