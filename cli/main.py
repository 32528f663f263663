"""The ``stoppoc`` group and its commands."""

import logging

import click
from pydantic import ValidationError
from pydantic_settings import SettingsError

from stoppoc.cli import (
    access,
    asyncapi,
    bench,
    catalog,
    clusters,
    conversions,
    coupons,
    demo,
    dlq,
    generate,
    notifications,
    operate,
    orders,
    payments,
    portal,
    reconcile,
    settlements,
    status,
    wallet,
)
from stoppoc.cli.database import USAGE, fail
from stoppoc.shared.settings import get_settings


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """stoppoc: converts POC (free trial) clusters into paid ones.

    Configured from the environment: STOPPOC_AMQP_URL, STOPPOC_DATABASE_URL, STOPPOC_NAMESPACE.
    Exit codes: 0 ok, 1 a negative answer, 2 a usage error, 3 the broker or database unreachable,
    4 no answer in time.
    """
    try:
        get_settings()  # a setting that cannot be read is a usage error, said once and clearly
    except (SettingsError, ValidationError) as error:
        fail(f"bad configuration: {error}", USAGE)
    if ctx.invoked_subcommand != "run":
        # aiormq logs a refused connection before raising it; the command says it once, in one line.
        logging.getLogger("aiormq.connection").disabled = True


for command in (
    operate.migrate,
    operate.run,
    demo.demo,
    asyncapi.asyncapi,
    generate.generate,
    clusters.clusters,
    orders.orders,
    coupons.coupons,
    catalog.catalog,
    wallet.wallet,
    payments.payments,
    dlq.dlq,
    notifications.notifications,
    access.access,
    portal.quote,
    portal.request_stop,
    conversions.conversions,
    status.status,
    settlements.settlements,
    reconcile.reconcile_command,
    bench.bench,
):
    main.add_command(command)
