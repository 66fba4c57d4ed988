"""`bei serve` (placeholder until implemented)."""

from __future__ import annotations

from bei_cli.errors import BuildError

HELP = "Not implemented yet."
EXAMPLE = "Example:  bei serve --help"


def command() -> None:
    raise BuildError("`bei serve` is not implemented yet.")
