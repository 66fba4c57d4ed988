"""OCI image layouts on disk (`oci-layout`, `index.json`, `blobs/sha256/...`): the one
implementation that `image/` writes and reads bases with and `registry/` pushes and pulls with.

`documents` holds the media types, the `Blob` descriptor and the pure JSON renderers;
`layout` the file-system side: reading one image of a layout (checked complete), writing a fresh
layout, and adding pulled blobs and manifests to an existing one.
"""

from bei_cli.oci.documents import (
    CONFIG_TYPE,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    IMAGE_MANIFESTS,
    INDEX_TYPE,
    INDEXES,
    MANIFEST_TYPE,
    REF_NAME,
    Blob,
    canonical_json,
    sha256_digest,
)
from bei_cli.oci.layout import (
    ImageLayers,
    LayoutImage,
    OciLayout,
    add_to_index,
    blob_path,
    is_layout,
    read_layout,
    write_blob_bytes,
)

__all__ = [
    "CONFIG_TYPE",
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "IMAGE_MANIFESTS",
    "INDEXES",
    "INDEX_TYPE",
    "MANIFEST_TYPE",
    "REF_NAME",
    "Blob",
    "ImageLayers",
    "LayoutImage",
    "OciLayout",
    "add_to_index",
    "blob_path",
    "canonical_json",
    "is_layout",
    "read_layout",
    "sha256_digest",
    "write_blob_bytes",
]
