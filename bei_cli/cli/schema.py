"""`bei schema` (placeholder until implemented)."""

from __future__ import annotations

from bei_cli.errors import BuildError

HELP = "Not implemented yet."
EXAMPLE = "Example:  bei schema --help"


def command() -> None:
    raise BuildError("`bei schema` is not implemented yet.")
