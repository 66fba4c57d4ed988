"""`python -m bei_cli` is the same as the `bei` command."""

from bei_cli.cli import main

main()
