"""Pull an image from a registry into a local OCI layout (what `bei build` reads a base from).

Accepts OCI and Docker v2 schema2 manifests, and an OCI index / Docker manifest list from which
it picks the wanted platform (linux/amd64 by default). Manifests are stored byte for byte, so the
local digest is the registry's; blobs are verified against their digests and skipped when the
layout already holds them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bei_cli.errors import CheckpointError
from bei_cli.oci import (
    IMAGE_MANIFESTS,
    INDEXES,
    Blob,
    add_to_index,
    blob_path,
    sha256_digest,
    write_blob_bytes,
)
from bei_cli.registry.client import RegistryClient, RetryPolicy
from bei_cli.registry.credentials import Credentials
from bei_cli.registry.reference import ImageReference, parse_reference
from bei_cli.registry.session import open_client

ACCEPT = ", ".join((*IMAGE_MANIFESTS, *INDEXES))
DEFAULT_PLATFORM = "linux/amd64"


def _platform_matches(entry: dict[str, Any], platform: str) -> bool:
    wanted = platform.split("/")
    found = entry.get("platform") or {}
    have = [found.get("os", ""), found.get("architecture", ""), found.get("variant", "")]
    return have[: len(wanted)] == wanted


def _pick_platform(index: dict[str, Any], ref: ImageReference, platform: str) -> str:
    for entry in index.get("manifests") or []:
        if entry.get("mediaType") in IMAGE_MANIFESTS and _platform_matches(entry, platform):
            return str(entry["digest"])
    offered = sorted(
        "/".join(filter(None, (p.get("os"), p.get("architecture"), p.get("variant"))))
        for p in (m.get("platform") or {} for m in index.get("manifests") or [])
    )
    raise CheckpointError(
        f"{ref} has no image for {platform}",
        hint=f"platforms offered: {', '.join(offered) or 'none'}",
    )


def fetch_manifest(
    client: RegistryClient, ref: ImageReference, platform: str
) -> tuple[bytes, str, str]:
    """The image manifest (bytes, media type, digest), resolving an index to one platform."""
    body, media_type = client.get_manifest(ref.repository, ref.reference, ACCEPT)
    if ref.digest and sha256_digest(body) != ref.digest:
        raise CheckpointError(f"{ref}: the registry sent a manifest with another digest")
    if media_type in INDEXES or (not media_type and "manifests" in json.loads(body)):
        digest = _pick_platform(json.loads(body), ref, platform)
        body, media_type = client.get_manifest(ref.repository, digest, ACCEPT)
    digest = sha256_digest(body)
    if media_type not in IMAGE_MANIFESTS:
        media_type = str(json.loads(body).get("mediaType") or "")
    if media_type not in IMAGE_MANIFESTS:
        raise CheckpointError(
            f"{ref} is not an OCI or Docker v2 image (media type {media_type or 'unknown'})",
            hint="bei pulls OCI image manifests, Docker schema2 manifests and their indexes",
        )
    return body, media_type, digest


def pull_into_layout(
    client: RegistryClient, ref: ImageReference, dest: Path, platform: str = DEFAULT_PLATFORM
) -> str:
    """Manifest, config and layers of ref into the layout dest; returns the manifest digest."""
    body, media_type, digest = fetch_manifest(client, ref, platform)
    manifest = json.loads(body)
    for entry in (manifest.get("config") or {}, *(manifest.get("layers") or [])):
        digest_of, size = str(entry["digest"]), int(entry["size"])
        path = blob_path(dest, digest_of)
        if path.is_file() and path.stat().st_size == size:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        client.download_blob(ref.repository, digest_of, path, lambda _done: None)
    write_blob_bytes(dest, digest, body)
    add_to_index(dest, Blob(blob_path(dest, digest), digest, len(body), media_type), ref.tag)
    return digest


def pull_image(
    reference: str,
    dest_layout_dir: Path,
    *,
    credentials: Credentials | None = None,
    insecure: bool = False,
    platform: str = DEFAULT_PLATFORM,
    environ: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
) -> str:
    """Pull `REG/REPO[:TAG|@DIGEST]` into an OCI layout at dest_layout_dir; returns its digest.

    Credentials: `credentials` if given, else env BEI_REGISTRY_USERNAME/PASSWORD and the docker
    config found through `environ` (the caller's environment; the process's when None).
    The index entry is annotated with the tag as org.opencontainers.image.ref.name.
    """
    ref = parse_reference(reference)
    env = os.environ if environ is None else environ
    with open_client(
        ref.registry,
        ref.repository,
        "pull",
        environ=env,
        credentials=credentials,
        insecure=insecure,
        retry=retry,
    ) as client:
        return pull_into_layout(client, ref, dest_layout_dir, platform)
