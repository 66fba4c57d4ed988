"""Option and argument types shared by several commands (one definition, one help text)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
