"""`bei inspect` (placeholder until implemented)."""

from __future__ import annotations

from bei_cli.errors import BuildError

HELP = "Not implemented yet."
EXAMPLE = "Example:  bei inspect --help"


def command() -> None:
    raise BuildError("`bei inspect` is not implemented yet.")
