"""``stoppoc asyncapi``: the contract as an AsyncAPI 3.0 document."""

import json

import click

from stoppoc.services import registry
from stoppoc.shared.asyncapi import document
from stoppoc.shared.settings import get_settings


@click.command()
@click.option("--output", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
def asyncapi(output: str | None) -> None:
    """Print the messaging contract as an AsyncAPI 3.0 document."""
    text = json.dumps(document(registry.topology(), get_settings().namespace), indent=2) + "\n"
    if output:
        with open(output, "w") as file:
            file.write(text)
    else:
        click.echo(text, nl=False)
