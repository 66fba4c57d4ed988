"""`write_image`: a base image plus bei's three layers, written as an OCI image layout.

The base's blobs are copied unchanged; the runtime, artifact and config layers are written with
`layer.write_layer` (sorted, fixed mtime, gzip mtime 0) and the config JSON is canonical, so the
same artifact, config, base, tag, labels and `created` give the same manifest digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bei_cli.engine.artifact import read_manifest
from bei_cli.engine.manifest import MANIFEST_NAME, Manifest
from bei_cli.image.base import BaseImage, check_base_runs
from bei_cli.image.bundle import artifact_entries, config_entries, package_dir, runtime_entries
from bei_cli.image.layer import LayerEntry, with_parents, write_layer
from bei_cli.image.spec import Created, image_config
from bei_cli.oci import OciLayout

LAYOUT_DIR = "image"  # inside the build directory
LAYER_STEPS = ("runtime", "artifact", "config")


@dataclass(frozen=True)
class ImageResult:
    layout_dir: Path
    manifest_digest: str  # "sha256:..." -- the image digest a registry will report
    ref_name: str  # the tag in index.json (org.opencontainers.image.ref.name)
    config_digest: str
    size: int  # bytes of all layer blobs, base included (compressed where compressed)
    archive: Path | None = None  # image.tar when --format docker-archive
    context_dir: Path | None = None  # the Dockerfile context


def engine_digest(artifact_dir: Path) -> str:
    return "sha256:" + hashlib.sha256((artifact_dir / MANIFEST_NAME).read_bytes()).hexdigest()


def image_labels(
    manifest: Manifest, *, digest: str, tag: str, title: str, created: Created
) -> dict[str, str]:
    """OCI annotations-as-labels plus bei's own; never a secret (the manifest holds none)."""
    source = manifest.source
    return {
        "org.opencontainers.image.source": f"{source.source.lower()}://{source.repo}",
        "org.opencontainers.image.revision": source.revision or "unknown",
        "org.opencontainers.image.created": created.iso,
        "org.opencontainers.image.title": title,
        "org.opencontainers.image.version": tag,
        "io.bei.model": source.repo,
        "io.bei.engine": manifest.engine,
        "io.bei.engine.digest": digest,
        "io.bei.dtype": manifest.dtype,
        "io.bei.task": manifest.profile.task,
        "io.bei.quantization": manifest.quantization,
        "io.bei.version": manifest.bei_version,
        # what the image was built for: "cpu", or "cuda" and the Truss GPU type
        "io.bei.device": manifest.device_kind,
        **({"io.bei.accelerator": manifest.accelerator} if manifest.accelerator else {}),
    }


def write_image(
    artifact_dir: Path,
    base: BaseImage,
    *,
    tag: str,
    config_yaml: bytes,
    created: Created,
    labels: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    layout_dir: Path | None = None,
    title: str | None = None,
) -> ImageResult:
    """Append runtime, artifact and config layers to `base`; write <artifact_dir>/image/.
    Refuses (BuildError) a base whose io.bei.base.engines lacks the artifact's engine."""
    manifest = read_manifest(artifact_dir)
    check_base_runs(base, manifest.engine, manifest.device_kind)
    layout = OciLayout(layout_dir or artifact_dir / LAYOUT_DIR).create()
    contents: dict[str, list[LayerEntry]] = {
        "runtime": runtime_entries(package_dir()),
        "artifact": artifact_entries(artifact_dir),
        "config": config_entries(config_yaml),
    }
    written = [
        write_layer(with_parents(contents[step]), layout.scratch(step), mtime=created.epoch)
        for step in LAYER_STEPS
    ]
    blobs = [layout.add_blob(blob) for blob in base.layers.blobs]
    blobs += [layout.adopt_layer(layer) for layer in written]
    all_labels = image_labels(
        manifest,
        digest=engine_digest(artifact_dir),
        tag=tag,
        title=title or manifest.served_model_name,
        created=created,
    )
    all_labels.update(labels or {})
    config = image_config(
        base.config,
        labels=all_labels,
        env=env or {},
        diff_ids=[layer.diff_id for layer in written],
        steps=[f"bei build: {step} layer" for step in LAYER_STEPS],
        created=created,
    )
    manifest_blob, config_blob = layout.finish(config, blobs, tag)
    return ImageResult(
        layout_dir=layout.root,
        manifest_digest=manifest_blob.digest,
        ref_name=tag,
        config_digest=config_blob.digest,
        size=sum(blob.size for blob in blobs),
    )
