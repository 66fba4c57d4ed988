"""OCI image layouts on disk: content-addressed blobs, one manifest per image, an index.

`OciLayout` is the thin file-system adapter (blobs/sha256/<hex>, oci-layout, index.json); the
JSON documents themselves are rendered by pure functions with sorted keys and no whitespace, so
the same config and layers always give the same manifest digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bei_cli.errors import BuildError
from bei_cli.image.layer import Layer

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = {"imageLayoutVersion": "1.0.0"}


@dataclass(frozen=True)
class Blob:
    """A content-addressed file: where it is now, and how a manifest refers to it."""

    path: Path
    digest: str  # "sha256:<hex>"
    size: int
    media_type: str

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class ImageLayers:
    """An image's layers (compressed or not) with the diff_id of each, in order."""

    blobs: tuple[Blob, ...]
    diff_ids: tuple[str, ...]


def canonical_json(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def render_manifest(config: Blob, layers: Sequence[Blob]) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }


def render_index(manifest: Blob, ref_name: str) -> dict[str, Any]:
    entry = {**manifest.descriptor(), "annotations": {REF_NAME: ref_name}}
    return {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [entry]}


class OciLayout:
    """Writes one image into a fresh layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"

    def create(self) -> OciLayout:
        if self.root.exists():
            shutil.rmtree(self.root)
        self.blobs.mkdir(parents=True)
        (self.root / "oci-layout").write_bytes(canonical_json(LAYOUT_FILE))
        return self

    def scratch(self, name: str) -> Path:
        """A temporary file inside the layout, for a layer that is hashed while written."""
        return self.blobs / f".{name}.partial"

    def adopt_layer(self, layer: Layer) -> Blob:
        """Move a freshly written layer to its content address."""
        target = self.blobs / layer.digest.split(":", 1)[1]
        os.replace(layer.path, target)
        return Blob(target, layer.digest, layer.size, layer.media_type)

    def add_blob(self, blob: Blob) -> Blob:
        """Copy (hard-link when possible) a blob from another layout or an extracted archive."""
        target = self.blobs / blob.digest.split(":", 1)[1]
        if not target.exists():
            try:
                os.link(blob.path, target)
            except OSError:
                shutil.copyfile(blob.path, target)
        return Blob(target, blob.digest, blob.size, blob.media_type)

    def add_json(self, document: Any, media_type: str) -> Blob:
        data = canonical_json(document)
        digest = sha256_digest(data)
        target = self.blobs / digest.split(":", 1)[1]
        target.write_bytes(data)
        return Blob(target, digest, len(data), media_type)

    def finish(
        self, config: dict[str, Any], layers: Sequence[Blob], ref_name: str
    ) -> tuple[Blob, Blob]:
        """Write config, manifest and index.json; return the manifest and config blobs."""
        config_blob = self.add_json(config, CONFIG_TYPE)
        manifest = self.add_json(render_manifest(config_blob, layers), MANIFEST_TYPE)
        (self.root / "index.json").write_bytes(canonical_json(render_index(manifest, ref_name)))
        return manifest, config_blob


@dataclass(frozen=True)
class StoredImage:
    """An image read from a layout: its manifest, config and layers."""

    manifest: dict[str, Any]
    config: dict[str, Any]
    config_blob: Blob
    layers: ImageLayers
    ref_name: str | None


def read_layout(root: Path, ref_name: str | None = None) -> StoredImage:
    """The image tagged `ref_name` in a layout (or its only image when no tag is given)."""
    index = _read_json(root / "index.json", root)
    entries = [e for e in index.get("manifests", []) if e.get("mediaType") != INDEX_TYPE]
    if ref_name is not None:
        entries = [e for e in entries if e.get("annotations", {}).get(REF_NAME) == ref_name]
    if len(entries) != 1:
        tags = [e.get("annotations", {}).get(REF_NAME) for e in index.get("manifests", [])]
        raise BuildError(
            f"{root} holds no single image tagged {ref_name or '(any)'}; its tags: {tags}.",
            hint="Name one: oci:PATH:TAG.",
        )
    blobs = root / "blobs"

    def blob(descriptor: dict[str, Any]) -> Blob:
        algorithm, hex_digest = str(descriptor["digest"]).split(":", 1)
        return Blob(
            blobs / algorithm / hex_digest,
            descriptor["digest"],
            int(descriptor["size"]),
            descriptor["mediaType"],
        )

    manifest_blob = blob(entries[0])
    manifest = _read_json(manifest_blob.path, root)
    config_blob = blob(manifest["config"])
    config = _read_json(config_blob.path, root)
    layers = tuple(blob(d) for d in manifest.get("layers", []))
    diff_ids = tuple(config.get("rootfs", {}).get("diff_ids", []))
    if len(diff_ids) != len(layers):
        raise BuildError(
            f"{root}: the image config lists {len(diff_ids)} diff_ids for {len(layers)} layers."
        )
    return StoredImage(
        manifest=manifest,
        config=config,
        config_blob=config_blob,
        layers=ImageLayers(layers, diff_ids),
        ref_name=entries[0].get("annotations", {}).get(REF_NAME),
    )


def _read_json(path: Path, root: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise BuildError(
            f"{root} is not a readable OCI image layout: {path.name}: {exc}",
            hint="Pass a directory written by `bei image base`, `skopeo copy ... oci:DIR` or "
            "`umoci`.",
        ) from exc
