"""``stoppoc clusters``: clusters, their resources and how each is billed."""

import click

from services.admin import fail, with_database
from services.output import json_option, show


@click.group()
def clusters() -> None:
    """Clusters and their resources: POC or paid, usage cycle, auto-renew, paid until."""


@clusters.command("list")
@click.option("--customer", help="Only this customer's clusters.")
@json_option
def list_clusters(customer: str | None, as_json: bool) -> None:
    async def query(conn):
        return await conn.fetch(
            "SELECT cluster_id, customer_id, name, poc, poc_expires_at, poc_stopped_at FROM inventory.clusters"
            " WHERE $1::text IS NULL OR customer_id = $1 ORDER BY cluster_id",
            customer,
        )

    rows = [dict(r) for r in with_database(query)]
    show(rows, ["cluster_id", "customer_id", "name", "poc", "poc_expires_at", "poc_stopped_at"], as_json=as_json)


@clusters.command("show")
@click.argument("cluster_id")
@json_option
def show_cluster(cluster_id: str, as_json: bool) -> None:
    async def query(conn):
        cluster = await conn.fetchrow("SELECT * FROM inventory.clusters WHERE cluster_id = $1", cluster_id)
        resources = await conn.fetch(
            "SELECT resource_id, kind, billing, converting_request_id AS converting, usage_cycle_months,"
            " auto_renew, paid_until FROM inventory.resources"
            " WHERE cluster_id = $1 AND deleted_at IS NULL ORDER BY kind, resource_id",
            cluster_id,
        )
        return cluster, resources

    cluster, resources = with_database(query)
    if cluster is None:
        fail(f"no cluster {cluster_id!r}")
    rows = [dict(r) for r in resources]
    columns = ["resource_id", "kind", "billing", "converting", "usage_cycle_months", "auto_renew", "paid_until"]
    title = f"{cluster_id} ({cluster['name']}) of {cluster['customer_id']}: POC {'on' if cluster['poc'] else 'off'}"
    show(rows, columns, as_json=as_json, title=title)
