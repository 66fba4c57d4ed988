"""OCI documents, pure: media types, the blob descriptor, canonical JSON and digests.

JSON is rendered with sorted keys and no whitespace, so the same config and layers always give
the same manifest digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_MANIFESTS = (MANIFEST_TYPE, DOCKER_MANIFEST)
INDEXES = (INDEX_TYPE, DOCKER_LIST)
REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = {"imageLayoutVersion": "1.0.0"}


@dataclass(frozen=True)
class Blob:
    """A content-addressed file: where it is (or will be) on disk, and how a manifest refers
    to it."""

    path: Path
    digest: str  # "sha256:<hex>"
    size: int
    media_type: str

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


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
