"""``stoppoc generate``: the documents made from the code, written (or checked) in one go.

The contract's AsyncAPI document and the broker's permissions are derived from the contract
and the services' handlers. They are committed so that readers, Docker compose and Kubernetes
find them without running anything; this command keeps them in step, and the tests run its
check. They are made for the default namespace ``stoppoc``, whatever STOPPOC_NAMESPACE says.
"""

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from stoppoc.services import registry
from stoppoc.shared import broker_access
from stoppoc.shared.asyncapi import document
from stoppoc.shared.topology import Names

NAMESPACE = "stoppoc"

# Each generated file, relative to the repository's root, and what makes its content.
GENERATED: dict[str, Callable[[], dict[str, Any]]] = {
    "docs/asyncapi.json": lambda: document(registry.topology(), NAMESPACE),
    "deploy/rabbitmq/definitions.json": lambda: broker_access.definitions(Names(NAMESPACE), registry.topology()),
}


def render(make: Callable[[], dict[str, Any]]) -> str:
    return json.dumps(make(), indent=2) + "\n"


def stale(root: Path) -> list[str]:
    """The generated files under ``root`` whose content is not what the code makes now."""
    return [
        path
        for path, make in GENERATED.items()
        if not (root / path).exists() or json.loads((root / path).read_text()) != make()
    ]


@click.command()
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The repository's root.",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 naming each file that is out of date.")
def generate(root: Path, check: bool) -> None:
    """Write the files made from the code: docs/asyncapi.json (the contract as AsyncAPI 3.0)
    and deploy/rabbitmq/definitions.json (the broker's users' permissions).

    Run it after changing the contract, a handler's routing key or who publishes what."""
    if not (root / "pyproject.toml").exists():
        raise click.UsageError(f"{root} is not the repository's root (no pyproject.toml); give --root")
    if check:
        out_of_date = stale(root)
        for path in out_of_date:
            click.echo(f"out of date: {path} (run: stoppoc generate)", err=True)
        sys.exit(1 if out_of_date else 0)
    for path, make in GENERATED.items():
        (root / path).write_text(render(make))
        click.echo(f"wrote {path}")
