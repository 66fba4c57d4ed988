"""The per-user base cache: one OCI layout per variant, where `bei image base` stores the bases
it builds and where `bei build` finds the one an artifact needs.

<root>/<variant>/ is an OCI image layout tagged <variant>; its index.json records the manifest
digest. The root is $BEI_BASE_CACHE, else $XDG_CACHE_HOME/bei/bases, else ~/.cache/bei/bases.
A base is built into <root>/<variant>.partial and moved into place only when complete, so an
interrupted build never leaves a half base where `bei build` would pick it up.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from bei_cli.errors import BuildError
from bei_cli.image.variants import VARIANTS, base_command, variants_for
from bei_cli.oci import read_layout

CACHE_ENV = "BEI_BASE_CACHE"


def cache_root(environ: Mapping[str, str]) -> Path:
    if environ.get(CACHE_ENV):
        return Path(environ[CACHE_ENV])
    xdg = environ.get("XDG_CACHE_HOME")
    home = Path(xdg) if xdg else Path(environ.get("HOME") or Path.home()) / ".cache"
    return home / "bei" / "bases"


def layout_dir(root: Path, variant: str) -> Path:
    return root / variant


def reference(root: Path, variant: str) -> str:
    return f"oci:{layout_dir(root, variant)}:{variant}"


def cached_reference(root: Path, variant: str) -> str | None:
    """`oci:DIR:VARIANT` when the cache holds that variant, else None."""
    present = (layout_dir(root, variant) / "index.json").is_file()
    return reference(root, variant) if present else None


def find_base(root: Path, engines: Collection[str], device_kind: str) -> str:
    """The cached base that runs `engines` on `device_kind` (the smallest such variant), or a
    BuildError that names the command which builds it."""
    wanted = variants_for(engines, device_kind)
    for variant in wanted:
        found = cached_reference(root, variant)
        if found is not None:
            return found
    what = f"{', '.join(sorted(engines))} on {device_kind}"
    raise BuildError(
        f"no base image for this artifact ({what}): the base cache {root} has no "
        f"{' or '.join(wanted)} base.",
        param="--base",
        hint=f"Build it once (as root; it is stored there): `{base_command(wanted[0])}`. Or "
        "pass --base REF (BEI_BASE_IMAGE), or --no-image to write the engine artifact alone.",
    )


def store(built: Path, root: Path, variant: str) -> Path:
    """Move a complete layout built at `built` to the cache's place for `variant`, replacing
    the one there (renamed aside first, so there is always a whole base or none)."""
    target = layout_dir(root, variant)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(built, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


@dataclass(frozen=True)
class CachedBase:
    variant: str
    reference: str
    digest: str
    size: int  # bytes of config + layers, as the manifest lists them
    labels: Mapping[str, str]


def list_cached(root: Path) -> list[CachedBase]:
    found = []
    for variant in VARIANTS:
        ref = cached_reference(root, variant)
        if ref is None:
            continue
        stored = read_layout(layout_dir(root, variant), variant)
        size = sum(blob.size for blob in stored.layers.blobs)
        labels = dict(stored.config.get("config", {}).get("Labels") or {})
        found.append(CachedBase(variant, ref, stored.manifest_digest, size, labels))
    return found
