"""The ``stoppoc`` group and its commands."""

import click

from stoppoc.cli import asyncapi, bench, catalog, clusters, coupons, demo, dlq, operate, orders, payments, wallet


@click.group()
def main() -> None:
    """stoppoc: converts POC (free trial) clusters into paid ones.

    Configured from the environment: STOPPOC_AMQP_URL, STOPPOC_DATABASE_URL, STOPPOC_NAMESPACE.
    Exit codes: 0 ok, 1 a negative answer, 2 a usage error, 3 the broker or database unreachable.
    """


for command in (
    operate.migrate,
    operate.run,
    demo.demo,
    asyncapi.asyncapi,
    clusters.clusters,
    orders.orders,
    coupons.coupons,
    catalog.catalog,
    wallet.wallet,
    payments.payments,
    dlq.dlq,
    bench.bench,
):
    main.add_command(command)
