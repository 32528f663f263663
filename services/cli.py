"""The ``stoppoc`` command."""

import sys

import click

from shared.logging import configure
from shared.settings import get_settings
from shared.topology import SERVICES

from services import runner
from services.admin import run_async as _run
from services.checkout.cli import catalog, coupons, orders
from services.dlq import dlq
from services.inventory.cli import clusters
from services.payment.cli import payments, wallet


@click.group()
def main() -> None:
    """stoppoc: converts POC (free trial) clusters into paid ones.

    Configured from the environment: STOPPOC_AMQP_URL, STOPPOC_DATABASE_URL, STOPPOC_NAMESPACE.
    """


@main.command()
def migrate() -> None:
    """Create the database if needed and apply every service's migrations."""
    settings = get_settings()

    async def go() -> None:
        applied = await runner.migrate_all(settings)
        for service, names in applied.items():
            click.echo(f"{service}: {', '.join(names) if names else 'up to date'}")

    _run(go())


@main.command()
@click.argument("service", type=click.Choice([*SERVICES, "all"]))
@click.option(
    "--migrate/--no-migrate",
    default=None,
    help="Apply the service's migrations as it starts (default: STOPPOC_MIGRATE_ON_START, true).",
)
def run(service: str, migrate: bool | None) -> None:
    """Run one service, or all four in one process, until SIGINT or SIGTERM."""
    settings = get_settings()
    if migrate is not None:
        settings = settings.model_copy(update={"migrate_on_start": migrate})
    services = SERVICES if service == "all" else (service,)
    configure(settings.log_level)
    _run(runner.run_until_signalled(settings, services))


@main.command()
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
    from services.demo import run_demo

    settings = get_settings()
    ok = False

    async def go() -> None:
        nonlocal ok
        ok = await run_demo(settings, embedded=services == "embedded", timeout=timeout)

    _run(go())
    sys.exit(0 if ok else 1)


@main.command()
@click.option("--output", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
def asyncapi(output: str | None) -> None:
    """Print the messaging contract as an AsyncAPI 3.0 document."""
    import json

    from shared.asyncapi import document

    text = json.dumps(document(get_settings().namespace), indent=2) + "\n"
    if output:
        with open(output, "w") as file:
            file.write(text)
    else:
        click.echo(text, nl=False)


main.add_command(clusters)
main.add_command(dlq)
main.add_command(catalog)
main.add_command(orders)
main.add_command(coupons)
main.add_command(wallet)
main.add_command(payments)
