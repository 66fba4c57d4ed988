"""Secret lookup from explicit inputs: an environment mapping and a secrets directory.

Order for a secret NAME: env var NAME, env var NAME upper-cased (hf_access_token ->
HF_ACCESS_TOKEN), then the file <secrets_dir>/NAME (Truss mounts secrets as /secrets/NAME). Each
source's own fallbacks (HF_TOKEN, the hub's stored login) belong to its adapter. Values never
appear in reprs, logs or error messages; `FoundSecret.origin` says where a value came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bei_cli.errors import CredentialsError

DEFAULT_SECRETS_DIR = Path("/secrets")

# Truss secret names; anything else could escape the secrets directory when used as a file name.
_SECRET_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class FoundSecret:
    value: str = field(repr=False)
    origin: str  # e.g. "env HF_ACCESS_TOKEN", "file /secrets/hf_access_token"


@dataclass(frozen=True)
class SecretLookup:
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    secrets_dir: Path | None = DEFAULT_SECRETS_DIR

    def find(self, name: str) -> FoundSecret | None:
        for env_name in dict.fromkeys((name, name.upper())):
            value = self.environ.get(env_name, "").strip()
            if value:
                return FoundSecret(value=value, origin=f"env {env_name}")
        return self._from_file(name)

    def get(self, name: str) -> str | None:
        found = self.find(name)
        return found.value if found else None

    def places(self, name: str) -> str:
        """Where `find` looks, for hints."""
        names = " or ".join(f"${n}" for n in dict.fromkeys((name, name.upper())))
        where = f"env {names}"
        if self.secrets_dir is not None:
            where += f", or the file {self.secrets_dir / name}"
        return where

    def _from_file(self, name: str) -> FoundSecret | None:
        if self.secrets_dir is None or not _SECRET_NAME.match(name):
            return None
        path = self.secrets_dir / name
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise CredentialsError(
                f"cannot read the secret file {path}: {exc.strerror}",
                hint="Make the file readable by this user, or pass the secret as an env var.",
            ) from exc
        return FoundSecret(value=value, origin=f"file {path}") if value else None
