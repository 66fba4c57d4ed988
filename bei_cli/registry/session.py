"""Open a `RegistryClient` for one repository: resolve credentials, build the login hint."""

from __future__ import annotations

from collections.abc import Mapping

from bei_cli.registry.client import RegistryClient, RetryPolicy
from bei_cli.registry.credentials import (
    ENV_PASSWORD,
    ENV_USERNAME,
    Credentials,
    docker_config_path,
    resolve_credentials,
)


def login_hint(registry: str, environ: Mapping[str, str]) -> str:
    return (
        f"run `bei login {registry}`, set {ENV_USERNAME} and {ENV_PASSWORD}, or add {registry} "
        f"to {docker_config_path(environ)}"
    )


def open_client(
    registry: str,
    repository: str | None,
    actions: str,
    *,
    environ: Mapping[str, str],
    credentials: Credentials | None = None,
    insecure: bool = False,
    retry: RetryPolicy | None = None,
) -> RegistryClient:
    """A client whose bearer tokens cover `repository:<repository>:<actions>` (e.g. pull,push)."""
    return RegistryClient(
        registry,
        credentials=resolve_credentials(registry, explicit=credentials, environ=environ),
        insecure=insecure,
        scope=f"repository:{repository}:{actions}" if repository else None,
        login_hint=login_hint(registry, environ),
        retry=retry,
    )
