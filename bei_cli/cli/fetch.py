"""`bei fetch` (placeholder until implemented)."""

from __future__ import annotations

from bei_cli.errors import BuildError

HELP = "Not implemented yet."
EXAMPLE = "Example:  bei fetch --help"


def command() -> None:
    raise BuildError("`bei fetch` is not implemented yet.")
