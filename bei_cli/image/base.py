"""Base runtime images: read one from a reference, and check that it can run an artifact.

A reference is `KIND:REST` where KIND is a row of `BASE_LOADERS` (`oci:PATH[:TAG]`,
`oci-archive:PATH`, `docker-archive:PATH`); anything else is a registry reference (REG/REPO:TAG),
pulled by bei's registry client into a scratch layout first. Each loader returns the base's
config JSON and its layer blobs with their diff_ids; `write_image` copies those blobs unchanged.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bei_cli.errors import BuildError
from bei_cli.image.oci import Blob, ImageLayers, read_layout

ENGINES_LABEL = "io.bei.base.engines"
TAR_TYPE = "application/vnd.oci.image.layer.v1.tar"
TAR_GZIP_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
GZIP_MAGIC = b"\x1f\x8b"
# Which of our bases runs each engine, for the hint when the chosen base does not.
BASE_FOR_ENGINE: dict[str, str] = {
    "fake": "the cpu-slim base (`bei image base --variant cpu-slim`)",
    "onnx": "the cpu-slim base (`bei image base --variant cpu-slim`)",
    "torch": "the cpu base (`bei image base --variant cpu`) or templates/cuda.Dockerfile",
}


@dataclass(frozen=True)
class BaseImage:
    reference: str
    config: dict[str, Any]  # the image config JSON (os, architecture, config, rootfs, history)
    layers: ImageLayers

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.config.get("config", {}).get("Labels") or {})

    @property
    def engines(self) -> frozenset[str] | None:
        """The engines the base declares it runs; None when it does not say."""
        declared = self.labels.get(ENGINES_LABEL)
        if declared is None:
            return None
        return frozenset(e.strip() for e in declared.split(",") if e.strip())


# (the part after "KIND:", a scratch directory the loader may extract into) -> BaseImage
BaseLoader = Callable[[str, Path], BaseImage]


def split_path_tag(rest: str) -> tuple[str, str | None]:
    """`PATH[:TAG]`, split at the first colon as skopeo's oci: transport does (a path holds no
    colon; a tag may)."""
    path, sep, tag = rest.partition(":")
    return (path, tag) if sep and tag else (path, None)


def load_oci(rest: str, scratch: Path) -> BaseImage:
    path, tag = split_path_tag(rest)
    stored = read_layout(Path(path), tag)
    return BaseImage(f"oci:{rest}", stored.config, stored.layers)


def load_oci_archive(rest: str, scratch: Path) -> BaseImage:
    path, tag = split_path_tag(rest)
    root = _extract(Path(path), scratch / "oci-archive")
    stored = read_layout(root, tag)
    return BaseImage(f"oci-archive:{rest}", stored.config, stored.layers)


def load_docker_archive(rest: str, scratch: Path) -> BaseImage:
    """`docker save` / `podman save` output: manifest.json lists the config and layer tars."""
    root = _extract(Path(rest), scratch / "docker-archive")
    try:
        entry = json.loads((root / "manifest.json").read_bytes())[0]
        config = json.loads((root / entry["Config"]).read_bytes())
        layer_paths = [root / name for name in entry["Layers"]]
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise BuildError(
            f"{rest} is not a docker-archive (docker save output): {exc!r}",
            hint="Create one with `docker save IMAGE -o FILE` or `podman save IMAGE -o FILE`.",
        ) from exc
    diff_ids = tuple(config.get("rootfs", {}).get("diff_ids", []))
    blobs = tuple(_file_blob(path) for path in layer_paths)
    return BaseImage(f"docker-archive:{rest}", config, ImageLayers(blobs, diff_ids))


def load_registry(reference: str, scratch: Path) -> BaseImage:
    """Pull REG/REPO[:TAG|@DIGEST] (credentials as for `bei push`) and read it as a layout.
    HTTPS always, except for hosts listed in BEI_INSECURE_REGISTRIES (comma-separated), as
    docker's `insecure-registries` setting does for a daemon."""
    import os

    from bei_cli.registry import parse_reference, pull_image

    insecure_hosts = {h.strip() for h in os.environ.get(INSECURE_ENV, "").split(",") if h.strip()}
    insecure = parse_reference(reference).registry in insecure_hosts
    pull_image(reference, scratch / "pulled", insecure=insecure)
    stored = read_layout(scratch / "pulled")
    return BaseImage(reference, stored.config, stored.layers)


INSECURE_ENV = "BEI_INSECURE_REGISTRIES"
BASE_LOADERS: dict[str, BaseLoader] = {
    "registry": load_registry,
    "oci": load_oci,
    "oci-archive": load_oci_archive,
    "docker-archive": load_docker_archive,
}


def reference_kind(reference: str) -> tuple[str, str]:
    """("oci", "PATH:TAG") for `oci:PATH:TAG`; ("registry", ref) for anything without a known
    transport prefix (`localhost:5000/bei/base:cpu` is a registry host, not a transport)."""
    prefix, sep, rest = reference.partition(":")
    if sep and prefix in BASE_LOADERS and prefix != "registry":
        return prefix, rest
    return "registry", reference


def load_base(reference: str, scratch: Path) -> BaseImage:
    kind, rest = reference_kind(reference)
    return BASE_LOADERS[kind](rest, scratch)


def check_base_runs(base: BaseImage, engine: str) -> None:
    """Refuse a base that declares its engines and lacks the artifact's."""
    engines = base.engines
    if engines is None or engine in engines:
        return
    raise BuildError(
        f"the base image {base.reference} runs the engines {', '.join(sorted(engines))}, "
        f"not {engine}, which this artifact needs.",
        param="--base",
        hint=f"Use {BASE_FOR_ENGINE.get(engine, 'a base that lists it in ' + ENGINES_LABEL)}.",
    )


def _extract(archive: Path, dest: Path) -> Path:
    if not archive.is_file():
        raise BuildError(f"the base image archive {archive} does not exist.", param="--base")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise BuildError(f"cannot read the base image archive {archive}: {exc}") from exc
    return dest


def _file_blob(path: Path) -> Blob:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        head = handle.read(2)
        digest.update(head)
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    media_type = TAR_GZIP_TYPE if head == GZIP_MAGIC else TAR_TYPE
    return Blob(path, f"sha256:{digest.hexdigest()}", path.stat().st_size, media_type)
