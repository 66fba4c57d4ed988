"""OCI image layouts on disk: read one image (checked complete), write a fresh layout, add
pulled blobs and manifests to an existing one. File I/O only, no network."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bei_cli.errors import ArtifactError
from bei_cli.oci.documents import (
    CONFIG_TYPE,
    INDEX_TYPE,
    INDEXES,
    LAYOUT_FILE,
    MANIFEST_TYPE,
    REF_NAME,
    Blob,
    canonical_json,
    render_index,
    render_manifest,
    sha256_digest,
)

LAYOUT_HINT = (
    "Pass a directory written by `bei build --base`, `bei image build`, `bei image base`, "
    "`skopeo copy ... oci:DIR` or `umoci`."
)


@dataclass(frozen=True)
class ImageLayers:
    """An image's layers (compressed or not) with the diff_id of each, in order."""

    blobs: tuple[Blob, ...]
    diff_ids: tuple[str, ...]


@dataclass(frozen=True)
class LayoutImage:
    """One image of a layout: its manifest's exact bytes and parsed form, config and layers."""

    root: Path
    manifest_bytes: bytes
    manifest_digest: str
    media_type: str
    manifest: dict[str, Any]
    config_blob: Blob
    config: dict[str, Any]  # the image config JSON (os, architecture, config, rootfs, history)
    layers: ImageLayers
    ref_name: str | None

    def blob_path(self, digest: str) -> Path:
        return blob_path(self.root, digest)

    @property
    def labels(self) -> dict[str, str]:
        return dict((self.config.get("config") or {}).get("Labels") or {})


class WrittenBlob(Protocol):
    """A file hashed while it was written (e.g. `image.layer.Layer`)."""

    @property
    def path(self) -> Path: ...

    @property
    def digest(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def media_type(self) -> str: ...


def blob_path(root: Path, digest: str) -> Path:
    algorithm, _, hex_digest = digest.partition(":")
    return root / "blobs" / algorithm / hex_digest


def is_layout(path: Path) -> bool:
    return (path / "oci-layout").is_file() and (path / "index.json").is_file()


def _read_json(path: Path, root: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ArtifactError(
            f"{root} is not a readable OCI image layout: {path.name}: {exc}", hint=LAYOUT_HINT
        ) from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"{path} is not a JSON object", hint=LAYOUT_HINT)
    return data


def _blob(root: Path, entry: dict[str, Any], where: str) -> Blob:
    try:
        digest = str(entry["digest"])
        return Blob(blob_path(root, digest), digest, int(entry["size"]), str(entry["mediaType"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"a descriptor in {where} lacks digest/size/mediaType") from exc


def _image_entry(root: Path, ref_name: str | None) -> dict[str, Any]:
    index = _read_json(root / "index.json", root)
    manifests = index.get("manifests") or []
    entries = [e for e in manifests if e.get("mediaType") not in INDEXES]
    if ref_name is not None:
        entries = [e for e in entries if (e.get("annotations") or {}).get(REF_NAME) == ref_name]
    if len(entries) != 1:
        tags = [(e.get("annotations") or {}).get(REF_NAME) for e in manifests]
        raise ArtifactError(
            f"{root} holds no single image tagged {ref_name or '(any)'}; its tags: {tags}.",
            hint="Name one: oci:PATH:TAG.",
        )
    return dict(entries[0])


def read_layout(root: Path, ref_name: str | None = None) -> LayoutImage:
    """The image tagged `ref_name` in a layout (or its only image when no tag is given), with
    the manifest's digest and every blob's size checked."""
    if not is_layout(root):
        raise ArtifactError(
            f"{root} is not an OCI image layout (no oci-layout / index.json)", hint=LAYOUT_HINT
        )
    entry = _image_entry(root, ref_name)
    manifest_blob = _blob(root, entry, f"{root}/index.json")
    data = manifest_blob.path.read_bytes() if manifest_blob.path.is_file() else b""
    if len(data) != manifest_blob.size or sha256_digest(data) != manifest_blob.digest:
        raise ArtifactError(f"manifest blob {manifest_blob.digest} is missing or corrupt in {root}")
    manifest = json.loads(data)
    where = f"manifest {manifest_blob.digest}"
    config_blob = _blob(root, manifest.get("config") or {}, where)
    layers = tuple(_blob(root, layer, where) for layer in manifest.get("layers") or [])
    for blob in (config_blob, *layers):
        if not blob.path.is_file() or blob.path.stat().st_size != blob.size:
            raise ArtifactError(f"blob {blob.digest} is missing or has the wrong size in {root}")
    config = _read_json(config_blob.path, root)
    diff_ids = tuple((config.get("rootfs") or {}).get("diff_ids") or [])
    if len(diff_ids) != len(layers):
        raise ArtifactError(
            f"{root}: the image config lists {len(diff_ids)} diff_ids for {len(layers)} layers."
        )
    return LayoutImage(
        root=root,
        manifest_bytes=data,
        manifest_digest=manifest_blob.digest,
        media_type=manifest_blob.media_type,
        manifest=manifest,
        config_blob=config_blob,
        config=config,
        layers=ImageLayers(layers, diff_ids),
        ref_name=(entry.get("annotations") or {}).get(REF_NAME),
    )


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

    def adopt_layer(self, layer: WrittenBlob) -> Blob:
        """Move a freshly written layer to its content address."""
        target = blob_path(self.root, layer.digest)
        os.replace(layer.path, target)
        return Blob(target, layer.digest, layer.size, layer.media_type)

    def add_blob(self, blob: Blob) -> Blob:
        """Copy (hard-link when possible) a blob from another layout or an extracted archive."""
        target = blob_path(self.root, blob.digest)
        if not target.exists():
            try:
                os.link(blob.path, target)
            except OSError:
                shutil.copyfile(blob.path, target)
        return Blob(target, blob.digest, blob.size, blob.media_type)

    def add_json(self, document: Any, media_type: str) -> Blob:
        data = canonical_json(document)
        digest = sha256_digest(data)
        target = blob_path(self.root, digest)
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


def write_blob_bytes(root: Path, digest: str, data: bytes) -> None:
    path = blob_path(root, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def add_to_index(root: Path, manifest: Blob, ref_name: str | None) -> None:
    """Write oci-layout and record the manifest in index.json (replacing the same ref name)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text(json.dumps(LAYOUT_FILE) + "\n", encoding="utf-8")
    index_path = root / "index.json"
    index = _read_json(index_path, root) if index_path.is_file() else {}
    kept = [
        m
        for m in index.get("manifests") or []
        if (m.get("annotations") or {}).get(REF_NAME) != ref_name
        and m.get("digest") != manifest.digest
    ]
    entry: dict[str, Any] = manifest.descriptor()
    if ref_name:
        entry["annotations"] = {REF_NAME: ref_name}
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [*kept, entry]}
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
