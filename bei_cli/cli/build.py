"""`bei build` (placeholder until implemented)."""

from __future__ import annotations

from bei_cli.errors import BuildError

HELP = "Not implemented yet."
EXAMPLE = "Example:  bei build --help"


def command() -> None:
    raise BuildError("`bei build` is not implemented yet.")
