"""`bei schema`: print the config.yaml schema (JSON Schema, or the Markdown reference)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from bei_cli.config.reference import render_json_schema, render_markdown

HELP = (
    "Print the JSON Schema of config.yaml (Truss keys plus the bei: block), for editors and "
    "CI; --format markdown prints the reference that docs/config.md is generated from."
)
EXAMPLE = (
    "Examples:  bei schema --output bei-config.schema.json   |   "
    "bei schema --format markdown | less"
)

RENDERERS = {"json": render_json_schema, "markdown": render_markdown}


def command(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of stdout."),
    ] = None,
    format: Annotated[
        Literal["json", "markdown"],
        typer.Option("--format", "-f", help="json (JSON Schema) or markdown (reference)."),
    ] = "json",
) -> None:
    text = RENDERERS[format]()
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}", err=True)
