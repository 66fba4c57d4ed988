"""Local OCI image layouts (`oci-layout`, `index.json`, `blobs/sha256/...`): reading the one
image `bei build` wrote, and writing a pulled image. Pure file I/O, no network."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bei_cli.errors import ArtifactError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEXES = (OCI_INDEX, DOCKER_LIST)
REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_MARKER = {"imageLayoutVersion": "1.0.0"}


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class LocalImage:
    """One image of a layout: its manifest's exact bytes and the blobs it needs."""

    root: Path
    manifest: bytes
    manifest_digest: str
    media_type: str
    config: Blob
    layers: tuple[Blob, ...]
    ref_name: str | None

    def blob_path(self, digest: str) -> Path:
        return blob_path(self.root, digest)

    def config_json(self) -> dict[str, Any]:
        data = json.loads(self.blob_path(self.config.digest).read_bytes())
        return data if isinstance(data, dict) else {}


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_path(root: Path, digest: str) -> Path:
    algorithm, _, hex_digest = digest.partition(":")
    return root / "blobs" / algorithm / hex_digest


def is_layout(path: Path) -> bool:
    return (path / "oci-layout").is_file() and (path / "index.json").is_file()


def _blob(entry: dict[str, Any], where: str) -> Blob:
    try:
        return Blob(str(entry["digest"]), int(entry["size"]), str(entry.get("mediaType", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"a descriptor in {where} lacks digest/size") from exc


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"{path} is not a JSON object")
    return data


def read_layout(root: Path) -> LocalImage:
    """The single image manifest of a layout (as `bei build` writes it), checked complete."""
    if not is_layout(root):
        raise ArtifactError(
            f"{root} is not an OCI image layout (no oci-layout / index.json)",
            hint="build the image first (`bei build`), or point at BUILD_DIR or BUILD_DIR/image",
        )
    index = _read_json(root / "index.json")
    entries = [m for m in index.get("manifests") or [] if m.get("mediaType") in IMAGE_MANIFESTS]
    if len(entries) != 1:
        raise ArtifactError(
            f"{root}/index.json lists {len(entries)} image manifests; bei pushes exactly one"
        )
    entry = _blob(entries[0], f"{root}/index.json")
    path = blob_path(root, entry.digest)
    manifest = path.read_bytes() if path.is_file() else b""
    if len(manifest) != entry.size or sha256_digest(manifest) != entry.digest:
        raise ArtifactError(f"manifest blob {entry.digest} is missing or corrupt in {root}")
    body = json.loads(manifest)
    config = _blob(body.get("config") or {}, f"manifest {entry.digest}")
    layers = tuple(_blob(layer, f"manifest {entry.digest}") for layer in body.get("layers") or [])
    for blob in (config, *layers):
        found = blob_path(root, blob.digest)
        if not found.is_file() or found.stat().st_size != blob.size:
            raise ArtifactError(f"blob {blob.digest} is missing or has the wrong size in {root}")
    annotations = entries[0].get("annotations") or {}
    return LocalImage(
        root, manifest, entry.digest, entry.media_type, config, layers, annotations.get(REF_NAME)
    )


def write_blob_bytes(root: Path, digest: str, data: bytes) -> None:
    path = blob_path(root, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def add_to_index(root: Path, manifest: Blob, ref_name: str | None) -> None:
    """Write oci-layout and record the manifest in index.json (replacing the same ref name)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text(json.dumps(LAYOUT_MARKER) + "\n", encoding="utf-8")
    index_path = root / "index.json"
    index = _read_json(index_path) if index_path.is_file() else {}
    kept = [
        m
        for m in index.get("manifests") or []
        if (m.get("annotations") or {}).get(REF_NAME) != ref_name
        and m.get("digest") != manifest.digest
    ]
    entry: dict[str, Any] = {
        "mediaType": manifest.media_type,
        "digest": manifest.digest,
        "size": manifest.size,
    }
    if ref_name:
        entry["annotations"] = {REF_NAME: ref_name}
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*kept, entry]}
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
