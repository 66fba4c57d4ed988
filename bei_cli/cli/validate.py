"""`bei validate` (placeholder until implemented)."""

from __future__ import annotations

from bei_cli.errors import BuildError

HELP = "Not implemented yet."
EXAMPLE = "Example:  bei validate --help"


def command() -> None:
    raise BuildError("`bei validate` is not implemented yet.")
