"""`bei login REG`: check credentials against a registry, then store them in the docker config."""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from typing import Annotated

import typer

from bei_cli.errors import ConfigError
from bei_cli.registry.credentials import Credentials, docker_config_path, store_login
from bei_cli.registry.reference import parse_target
from bei_cli.registry.session import open_client

HELP = (
    "Log in to an OCI registry: verify the credentials against it, then store them in the docker "
    "config ($DOCKER_CONFIG/config.json, else ~/.docker/config.json, mode 0600) where `bei push` "
    "and docker/podman/skopeo find them. The password is read from stdin, never from a flag."
)
EXAMPLE = 'Example:  echo "$TOKEN" | bei login registry.example.com --username ci --password-stdin'

Username = Annotated[
    str | None, typer.Option("--username", "-u", help="Registry user name.", show_default=False)
]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password (or token) from stdin."),
]
Insecure = Annotated[
    bool,
    typer.Option(
        "--insecure",
        help="Speak plain HTTP to the registry (local test registries). Never implied.",
    ),
]


def allow_plain_http_base(
    base: str | None, environ: MutableMapping[str, str] | None = None
) -> None:
    """`bei build/image build --insecure`: a registry --base may speak plain HTTP. Adds its host
    to BEI_INSECURE_REGISTRIES for this process, the list the base loader reads."""
    from bei_cli.image.base import INSECURE_ENV, reference_kind
    from bei_cli.registry.reference import parse_reference

    env = os.environ if environ is None else environ
    if base is None or reference_kind(base)[0] != "registry":
        raise ConfigError(
            "--insecure needs a registry --base (REGISTRY/REPO:TAG)",
            param="--insecure",
            hint="local bases (oci:, oci-archive:, docker-archive:) involve no registry",
        )
    hosts = [h for h in env.get(INSECURE_ENV, "").split(",") if h.strip()]
    env[INSECURE_ENV] = ",".join([*hosts, parse_reference(base).registry])


def read_cli_credentials(username: str | None, password_stdin: bool) -> Credentials | None:
    """Credentials given on the command line, or None when neither flag is given."""
    if not username and not password_stdin:
        return None
    if not (username and password_stdin):
        raise ConfigError(
            "--username and --password-stdin go together",
            hint='pipe the password: echo "$PASSWORD" | bei ... --username U --password-stdin',
        )
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise ConfigError("--password-stdin read an empty password")
    return Credentials(username, password, "--username/--password-stdin")


def command(
    registry: Annotated[str, typer.Argument(help="Registry host[:port].")],
    username: Username = None,
    password_stdin: PasswordStdin = False,
    insecure: Insecure = False,
) -> None:
    host, _ = parse_target(registry)
    if not username or not password_stdin:
        raise ConfigError(
            "bei login needs --username and --password-stdin",
            hint="pipe the password, so that it never shows in the shell history: " + EXAMPLE,
        )
    credentials = read_cli_credentials(username, password_stdin)
    if credentials is None:  # unreachable: both flags are checked above
        raise ConfigError("bei login needs --username and --password-stdin")
    environ = dict(os.environ)
    with open_client(
        host, None, "pull", environ=environ, credentials=credentials, insecure=insecure
    ) as client:
        client.ping()
    path = docker_config_path(environ)
    store_login(path, host, credentials)
    typer.echo(f"login succeeded: {username}@{host} (stored in {path})")
