"""The `bei` command: a thin root that only composes one module per command and renders errors.

`main()` is the CLI edge: every BeiError is printed once (message, details, hint) and becomes its
exit code; anything else is a bug (exit 1), with the traceback only under `--debug` / BEI_DEBUG=1.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

import typer
from typer.exceptions import TyperException

from bei_cli import __version__
from bei_cli.cli import (
    build,
    cache,
    deploy,
    fetch,
    image,
    inspect_cmd,
    login,
    push,
    schema,
    serve,
    validate,
)
from bei_cli.cli.render import render_bug, render_error
from bei_cli.errors import BeiError

COMMANDS: tuple[tuple[str, ModuleType], ...] = (
    ("validate", validate),
    ("schema", schema),
    ("fetch", fetch),
    ("inspect", inspect_cmd),
    ("build", build),
    ("serve", serve),
    ("push", push),
    ("login", login),
    ("deploy", deploy),
)

app = typer.Typer(
    name="bei",
    help="Turn a Hugging Face encoder checkpoint into a fast inference server.\n\n"
    "bei build config.yaml  ->  bei serve build/<model>",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bei {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    if debug:
        os.environ["BEI_DEBUG"] = "1"


for _name, _module in COMMANDS:
    app.command(name=_name, epilog=_module.EXAMPLE, help=_module.HELP)(_module.command)
# Command groups (subcommands of their own).
GROUPS: tuple[tuple[str, ModuleType], ...] = (("cache", cache), ("image", image))
for _name, _module in GROUPS:
    app.add_typer(_module.command, name=_name, help=_module.HELP, epilog=_module.EXAMPLE)


def main(argv: list[str] | None = None) -> None:
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="bei", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except TyperException as exc:  # usage errors: unknown option, missing argument, bad value
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            print(f"error: {exc.format_message()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except BeiError as exc:
        render_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        render_bug(exc)
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)
