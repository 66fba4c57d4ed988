"""Push a local OCI image to a registry: blobs the registry lacks, then the manifest per tag.

The tag policy is pure (`plan_tags`): without publish a mutable development tag; with publish an
immutable version tag (refused when it already names another image) and, with promote, the
environment tag moved to the same digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bei_cli.errors import ConfigError
from bei_cli.oci import Blob, LayoutImage
from bei_cli.registry.client import RegistryClient
from bei_cli.registry.reference import check_tag

DEV_TAG = "dev"
DEFAULT_ENVIRONMENT = "production"
DEFAULT_CHUNK_SIZE = 16 << 20


class PushProgress(Protocol):
    def blob_started(self, blob: Blob) -> None: ...

    def blob_advanced(self, blob: Blob, done: int) -> None: ...

    def blob_finished(self, blob: Blob, uploaded: bool) -> None: ...


class SilentProgress:
    def blob_started(self, blob: Blob) -> None:
        return None

    def blob_advanced(self, blob: Blob, done: int) -> None:
        return None

    def blob_finished(self, blob: Blob, uploaded: bool) -> None:
        return None


@dataclass(frozen=True)
class TagPlan:
    tag: str
    immutable: bool  # a version tag: never moved to another digest


@dataclass(frozen=True)
class PushResult:
    digest: str
    tags: tuple[str, ...]
    uploaded: int
    skipped: int
    uploaded_bytes: int


def version_tag(digest: str) -> str:
    """The default publish tag: `sha-` and the first 12 hex digits of the manifest digest."""
    return "sha-" + digest.partition(":")[2][:12]


def plan_tags(
    digest: str,
    *,
    publish: bool,
    version: str | None = None,
    promote: bool = False,
    environment: str = DEFAULT_ENVIRONMENT,
) -> tuple[TagPlan, ...]:
    if not publish:
        if promote or version:
            flag = "--promote" if promote else "--version"
            raise ConfigError(
                f"{flag} needs --publish",
                hint="only a published (immutable) version can be promoted or named",
            )
        return (TagPlan(DEV_TAG, immutable=False),)
    plans = [TagPlan(check_tag(version or version_tag(digest)), immutable=True)]
    if promote:
        plans.append(TagPlan(check_tag(environment), immutable=False))
    return tuple(plans)


def check_immutable_tags(
    client: RegistryClient, repository: str, image: LayoutImage, plans: Sequence[TagPlan]
) -> None:
    """Refuse before uploading anything when a version tag already names another image."""
    for plan in plans:
        if not plan.immutable:
            continue
        existing = client.manifest_digest(repository, plan.tag, image.media_type)
        if existing is not None and existing != image.manifest_digest:
            raise ConfigError(
                f"{client.registry}/{repository}:{plan.tag} is published already as {existing}; "
                f"version tags are immutable and this image is {image.manifest_digest}",
                hint="publish under another --version (or leave it out for sha-<digest>), or "
                "push without --publish for the development tag",
            )


def push_image(
    image: LayoutImage,
    client: RegistryClient,
    repository: str,
    plans: Sequence[TagPlan],
    *,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    progress: PushProgress | None = None,
) -> PushResult:
    """Upload the blobs the registry lacks (layers, then config), then PUT the manifest per tag."""
    report = progress or SilentProgress()
    client.ping()
    check_immutable_tags(client, repository, image, plans)
    uploaded = skipped = uploaded_bytes = 0
    for blob in (*image.layers.blobs, image.config_blob):
        report.blob_started(blob)
        if client.blob_exists(repository, blob.digest):
            skipped += 1
            report.blob_finished(blob, uploaded=False)
            continue
        client.upload_blob(
            repository,
            blob.digest,
            blob.path,
            blob.size,
            chunk_size,
            lambda done, b=blob: report.blob_advanced(b, done),  # type: ignore[misc]
        )
        uploaded += 1
        uploaded_bytes += blob.size
        report.blob_finished(blob, uploaded=True)
    for plan in plans:
        client.put_manifest(repository, plan.tag, image.manifest_bytes, image.media_type)
    return PushResult(
        image.manifest_digest, tuple(p.tag for p in plans), uploaded, skipped, uploaded_bytes
    )
