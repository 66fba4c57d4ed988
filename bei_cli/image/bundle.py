"""What goes into bei's three layers, as lists of `LayerEntry` (no I/O beyond stat).

1. runtime: the bei_cli package's source files (.py and package data; no byte code) under
   /opt/bei/lib, found by PYTHONPATH, plus the /opt/bei/bin/bei launcher. Source rather than a
   wheel: no build backend or pip run at image time, nothing time-stamped, and the Dockerfile
   context copies the very same tree; the base already holds every dependency.
2. artifact: manifest.json and exactly the files it lists, under /opt/bei/artifact.
3. config: the resolved config.yaml at /opt/bei/config.yaml, secret values blanked (a config
   names secrets; their values are looked up when serving and never stored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml

import bei_cli
from bei_cli.config.schema import BeiConfig
from bei_cli.engine.artifact import read_manifest, verify_files
from bei_cli.engine.manifest import MANIFEST_NAME
from bei_cli.image.layer import EXEC_MODE, LayerEntry, file_entry
from bei_cli.image.spec import ARTIFACT, BIN, CONFIG_FILE, LAUNCHER, LIB

SKIPPED_DIRS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")


def package_dir() -> Path:
    return Path(bei_cli.__file__).resolve().parent


def runtime_files(package: Path) -> Iterator[tuple[str, Path]]:
    """(path relative to /opt/bei/lib, source file) for every shipped file of the package."""
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package.parent)
        if (
            path.is_file()
            and not SKIPPED_DIRS & set(rel.parts)
            and path.suffix not in SKIPPED_SUFFIXES
        ):
            yield rel.as_posix(), path


def runtime_entries(package: Path) -> list[LayerEntry]:
    entries = [file_entry(f"{_rel(LIB)}/{rel}", source) for rel, source in runtime_files(package)]
    entries.append(LayerEntry(path=f"{_rel(BIN)}/bei", data=LAUNCHER.encode(), mode=EXEC_MODE))
    return entries


def artifact_entries(artifact_dir: Path) -> list[LayerEntry]:
    """manifest.json plus the files it lists (checked for presence and size, not re-hashed:
    `bei serve` hashes them when the container starts)."""
    manifest = read_manifest(artifact_dir)
    verify_files(artifact_dir, manifest, hashes=False)
    names = [MANIFEST_NAME, *(record.path for record in manifest.files)]
    return [file_entry(f"{_rel(ARTIFACT)}/{name}", artifact_dir / name) for name in names]


def resolved_config_yaml(config: BeiConfig) -> bytes:
    """The validated config with defaults filled in; `secrets` keeps names, never values."""
    document = config.model_dump(mode="json", exclude_none=True)
    document["secrets"] = dict.fromkeys(sorted(document.get("secrets", {})))
    return yaml.safe_dump(document, sort_keys=True, allow_unicode=True).encode()


def config_entries(config_yaml: bytes) -> list[LayerEntry]:
    return [LayerEntry(path=_rel(CONFIG_FILE), data=config_yaml)]


def _rel(path: object) -> str:
    return str(path).lstrip("/")
