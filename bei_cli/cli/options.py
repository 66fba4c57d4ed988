"""Option and argument types shared by several commands (one definition, one help text)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from bei_cli.checkpoint import SecretLookup

ConfigPath = Annotated[
    Path,
    typer.Argument(
        help="Path to a Truss-compatible config.yaml.",
        exists=False,  # existence is checked by the config loader, with a better message
        dir_okay=False,
    ),
]
OutputDir = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Directory to write to (default: build/<model_name>)."),
]
SecretsDir = Annotated[
    Path,
    typer.Option(
        "--secrets-dir",
        help="Directory of secret files (one file per secret name), like Truss mounts them.",
    ),
]


def secret_lookup(secrets_dir: Path) -> SecretLookup:
    """The CLI edge is where the process environment is read, once."""
    return SecretLookup(environ=dict(os.environ), secrets_dir=secrets_dir)
