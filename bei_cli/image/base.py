"""Base runtime images: read one from a reference, and check that it can run an artifact.

A reference is `KIND:REST` where KIND is a row of `BASE_LOADERS` (`oci:PATH[:TAG]`,
`oci-archive:PATH`, `docker-archive:PATH`); anything else is a registry reference (REG/REPO:TAG),
pulled by bei's registry client into a scratch layout first. Each loader returns the base's
config JSON and its layer blobs with their diff_ids; `write_image` copies those blobs unchanged.
`base_labels` reads just the labels (for a registry base: the manifest and config, no layers), so
`bei build` can refuse a base that cannot run the artifact before any build work.
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
from bei_cli.image.variants import ENGINES_LABEL, check_fits
from bei_cli.oci import Blob, ImageLayers, read_layout

TAR_TYPE = "application/vnd.oci.image.layer.v1.tar"
TAR_GZIP_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
GZIP_MAGIC = b"\x1f\x8b"


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
    from bei_cli.registry import pull_image

    pull_image(reference, scratch / "pulled", insecure=_insecure(reference))
    stored = read_layout(scratch / "pulled")
    return BaseImage(reference, stored.config, stored.layers)


def _insecure(reference: str) -> bool:
    import os

    from bei_cli.registry import parse_reference

    insecure_hosts = {h.strip() for h in os.environ.get(INSECURE_ENV, "").split(",") if h.strip()}
    return parse_reference(reference).registry in insecure_hosts


def registry_config(reference: str) -> dict[str, Any]:
    """The image config of a registry image: its manifest and config blob, no layers."""
    import os
    import tempfile

    from bei_cli.registry import open_client, parse_reference
    from bei_cli.registry.pull import DEFAULT_PLATFORM, fetch_manifest

    ref = parse_reference(reference)
    with (
        open_client(
            ref.registry, ref.repository, "pull", environ=os.environ, insecure=_insecure(reference)
        ) as client,
        tempfile.TemporaryDirectory(prefix="bei-base-config-") as scratch,
    ):
        body, _, _ = fetch_manifest(client, ref, DEFAULT_PLATFORM)
        digest = str(json.loads(body)["config"]["digest"])
        path = Path(scratch) / "config.json"
        client.download_blob(ref.repository, digest, path, lambda _done: None)
        return dict(json.loads(path.read_bytes()))


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


def base_labels(reference: str, scratch: Path) -> dict[str, str]:
    """The labels of a base, reading as little as its kind allows (a layout: two small blobs;
    a registry: manifest and config; an archive is unpacked into `scratch`)."""
    if reference_kind(reference)[0] == "registry":
        config = registry_config(reference)
    else:
        config = load_base(reference, scratch).config
    return dict(config.get("config", {}).get("Labels") or {})


def check_base_runs(base: BaseImage, engine: str, device_kind: str) -> None:
    """Refuse a base whose labels lack the artifact's engine or device (one without labels is
    a foreign base: nothing to check against)."""
    check_fits(base.reference, base.labels, [engine], device_kind)


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
