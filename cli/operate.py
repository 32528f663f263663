"""``stoppoc migrate`` and ``stoppoc run``: setting up and running the services."""

import click

from stoppoc.cli import runner
from stoppoc.cli.database import USAGE, fail, run_async
from stoppoc.services.registry import SERVICES
from stoppoc.shared import tracing
from stoppoc.shared.logging import configure
from stoppoc.shared.settings import get_settings


@click.command()
def migrate() -> None:
    """Create the database if needed, apply every service's migrations and declare the broker
    topology (every service's queue and bindings)."""
    settings = get_settings()

    async def go() -> None:
        applied = await runner.migrate_all(settings)
        for service, names in applied.items():
            click.echo(f"{service}: {', '.join(names) if names else 'up to date'}")
        await runner.declare_topology(settings)
        click.echo(f"broker: the queues of {', '.join(SERVICES)} declared in namespace {settings.namespace}")

    run_async(go())


@click.command()
@click.argument("service", type=click.Choice([*SERVICES, "all"]))
@click.option(
    "--migrate/--no-migrate",
    default=None,
    help="Apply the service's migrations as it starts (default: STOPPOC_MIGRATE_ON_START, true).",
)
def run(service: str, migrate: bool | None) -> None:
    """Run one service, or all four in one process, until SIGINT or SIGTERM.

    \b
    With STOPPOC_HTTP_PORT set (and STOPPOC_HTTP_HOST, default 127.0.0.1), the process serves:
      GET /health/live    200 while the process answers
      GET /health/ready   200 when every service is ready, else 503 naming what is not
      GET /metrics        the stoppoc_* metrics, Prometheus text format
    Traces: the standard OTEL_* variables (docs/operations.md).
    """
    settings = get_settings()
    if migrate is not None:
        settings = settings.model_copy(update={"migrate_on_start": migrate})
    services = SERVICES if service == "all" else (service,)
    try:
        tracing.exporters_asked_for(settings.traces_file)
    except tracing.TracingConfigurationError as error:
        fail(f"bad configuration: {error}", USAGE)
    configure(settings.log_level)
    run_async(runner.run_until_signalled(settings, services), runner.event_loop_factory(settings))
