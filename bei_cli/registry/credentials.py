"""Registry credentials: where they come from (flags, env, docker config, credential helpers)
and `bei login`'s write into the docker config.

Every `Credentials` remembers its `source` so that an auth failure can say where the wrong
password was read from without ever showing it; its repr hides the password.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bei_cli.errors import ConfigError, CredentialsError
from bei_cli.registry.reference import DOCKER_HUB, registry_key

ENV_USERNAME = "BEI_REGISTRY_USERNAME"
ENV_PASSWORD = "BEI_REGISTRY_PASSWORD"
HELPER_TIMEOUT_S = 30.0
# The auths key Docker itself uses for Docker Hub.
_DOCKER_HUB_AUTHS_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str  # e.g. "env BEI_REGISTRY_USERNAME/BEI_REGISTRY_PASSWORD"


def docker_config_path(environ: Mapping[str, str]) -> Path:
    """`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`."""
    base = environ.get("DOCKER_CONFIG")
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    return Path(base) / "config.json" if base else home / ".docker" / "config.json"


def resolve_credentials(
    registry: str, *, explicit: Credentials | None, environ: Mapping[str, str]
) -> Credentials | None:
    """The first credentials found: CLI flags, then env, then the docker config (auths,
    credHelpers, credsStore). None means anonymous."""
    if explicit is not None:
        return explicit
    username, password = environ.get(ENV_USERNAME), environ.get(ENV_PASSWORD)
    if username and password:
        return Credentials(username, password, f"env {ENV_USERNAME}/{ENV_PASSWORD}")
    if username or password:
        raise ConfigError(
            f"only one of {ENV_USERNAME} and {ENV_PASSWORD} is set",
            hint="set both, or neither to use the docker config",
        )
    return _from_docker_config(registry, docker_config_path(environ))


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the docker config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"the docker config {path} is not a JSON object")
    return data


def _matching(entries: Mapping[str, Any], registry: str) -> tuple[str, Any] | None:
    wanted = registry_key(registry)
    for key, value in entries.items():
        if registry_key(key) == wanted:
            return key, value
    return None


def _from_docker_config(registry: str, path: Path) -> Credentials | None:
    config = _read_config(path)
    helper = _matching(config.get("credHelpers") or {}, registry)
    if helper is not None:
        return _from_helper(str(helper[1]), registry)
    found = _matching(config.get("auths") or {}, registry)
    if found is not None and isinstance(found[1], dict) and found[1].get("auth"):
        return _decode_auth(str(found[1]["auth"]), f"{path} (auths.{found[0]})")
    if config.get("credsStore"):
        return _from_helper(str(config["credsStore"]), registry, missing_ok=True)
    return None


def _decode_auth(encoded: str, source: str) -> Credentials:
    try:
        username, sep, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"the auth entry in {source} is not base64 of user:password") from exc
    if not sep:
        raise ConfigError(f"the auth entry in {source} is not base64 of user:password")
    return Credentials(username, password, source)


def _from_helper(name: str, registry: str, *, missing_ok: bool = False) -> Credentials | None:
    """Ask `docker-credential-NAME get` (the docker credential-helper protocol)."""
    program = f"docker-credential-{name}"
    server = _DOCKER_HUB_AUTHS_KEY if registry_key(registry) == DOCKER_HUB else registry
    try:
        done = subprocess.run(
            [program, "get"],
            input=server,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError as exc:
        if missing_ok:
            return None
        raise CredentialsError(
            f"the docker config names the credential helper {program}, which is not installed",
            hint=f"install {program}, or remove it from the docker config",
        ) from exc
    if done.returncode != 0:
        # Helpers answer "credentials not found in native keychain" on a miss.
        return None
    try:
        answer = json.loads(done.stdout)
        return Credentials(str(answer["Username"]), str(answer["Secret"]), program)
    except (ValueError, KeyError, TypeError) as exc:
        raise CredentialsError(f"{program} answered something that is not credentials") from exc


def store_login(path: Path, registry: str, credentials: Credentials) -> None:
    """Write `auths.<registry>.auth` into the docker config (mode 0600), keeping other keys."""
    config = _read_config(path)
    auths = config.setdefault("auths", {})
    existing = _matching(auths, registry)
    key = existing[0] if existing else registry
    token = f"{credentials.username}:{credentials.password}".encode()
    auths[key] = {**(auths.get(key) or {}), "auth": base64.b64encode(token).decode("ascii")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(config, out, indent=2)
        out.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
