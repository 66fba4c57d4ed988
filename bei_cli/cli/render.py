"""How errors look on a terminal: one place, used only by the CLI edge."""

from __future__ import annotations

import os
import traceback

from rich.console import Console
from rich.markup import escape

from bei_cli.errors import BeiError

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def debug_enabled() -> bool:
    return os.environ.get("BEI_DEBUG", "") not in ("", "0", "false")


def render_error(exc: BeiError) -> None:
    where = f" \\[{escape(exc.param)}]" if exc.param else ""
    _stderr.print(f"[bold red]error[/]{where}: {escape(exc.message)}", markup=True)
    for line in exc.details:
        _stderr.print(f"  - {line}", markup=False)
    if exc.hint:
        _stderr.print(f"[bold]hint[/]: {escape(exc.hint)}", markup=True)
    if debug_enabled():
        _stderr.print(traceback.format_exc(), markup=False)


def render_bug(exc: Exception) -> None:
    _stderr.print(
        f"[bold red]internal error[/] ({type(exc).__name__}): {escape(str(exc))}", markup=True
    )
    if debug_enabled():
        _stderr.print(traceback.format_exc(), markup=False)
    else:
        _stderr.print("This is a bug in bei. Re-run with --debug for the traceback.", markup=False)
