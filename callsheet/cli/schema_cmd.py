"""``callsheet schema``: generated documents of the catalog."""

from __future__ import annotations

from pathlib import Path

import click

from callsheet.events.catalog import EVENT_TYPES
from callsheet.events.schema import asyncapi, dumps, json_schema

__all__ = ["schema"]


@click.command()
@click.option("--asyncapi", "as_asyncapi", is_flag=True, help="AsyncAPI 3 document instead.")
@click.option("--types", "list_types", is_flag=True, help="Only list the event types.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file."
)
def schema(as_asyncapi: bool, list_types: bool, output: Path | None) -> None:
    """Print the JSON Schema of the event catalog (generated from the code)."""
    if list_types:
        text = "\n".join(sorted(EVENT_TYPES)) + "\n"
    else:
        text = dumps(asyncapi() if as_asyncapi else json_schema()) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
