"""The image step of `bei build`: artifact + config + base reference -> image/, image.tar,
Dockerfile context. The pipeline calls `package_artifact` with its validated config; `bei image
build` calls `build_image` with a config file. `choose_base` runs before any build work: the
base named by --base, else the per-user base cache's variant for the planned engines and device,
refused there and then if it cannot run them."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bei_cli.config.load import load_config
from bei_cli.config.schema import BeiConfig
from bei_cli.engine.artifact import read_manifest
from bei_cli.engine.spec import ArtifactSpec
from bei_cli.errors import BuildError
from bei_cli.image.base import base_labels, load_base
from bei_cli.image.base_cache import cache_root, cached_reference, find_base
from bei_cli.image.bundle import resolved_config_yaml
from bei_cli.image.context import write_context
from bei_cli.image.docker_archive import ARCHIVE_NAME, repo_tag, write_docker_archive
from bei_cli.image.naming import image_name
from bei_cli.image.spec import created_at
from bei_cli.image.variants import base_command, check_fits, variants_for
from bei_cli.image.writer import ImageResult, write_image
from bei_cli.oci import read_layout

Report = Callable[[str], None]
FORMATS = ("oci", "docker-archive")
DEFAULT_TAG = "latest"


def _quiet(message: str) -> None:
    del message


def choose_base(
    explicit: str | None, engines: Collection[str], device_kind: str, *, cache_root: Path
) -> str:
    """The base reference for an artifact whose engine is one of `engines` (the plan's
    candidates) built for `device_kind`: `explicit` (--base / BEI_BASE_IMAGE) if given, else
    the cached variant (`variants.variant_for`). Refused (BuildError) when it is missing or its
    labels lack an engine or the device."""
    reference = explicit or find_base(cache_root, engines, device_kind)
    with tempfile.TemporaryDirectory(prefix="bei-base-") as scratch:
        labels = base_labels(reference, Path(scratch))
    check_fits(reference, labels, engines, device_kind)
    return reference


def describe_base(explicit: str | None, spec: ArtifactSpec, environ: Mapping[str, str]) -> str:
    """--dry-run's line: the base `bei build` would take for this plan, or how to get it."""
    engines = {candidate.engine for candidate in spec.choices()}
    if explicit:
        return explicit
    root = cache_root(environ)
    wanted = variants_for(engines, spec.device_kind)
    found = [ref for ref in (cached_reference(root, v) for v in wanted) if ref is not None]
    return found[0] if found else f"missing: `{base_command(wanted[0])}` (as root) builds it"


def base_for_artifact(artifact_dir: Path, explicit: str | None, *, cache_root: Path) -> str:
    """`choose_base` for an artifact that is already built (`bei image build`)."""
    manifest = read_manifest(artifact_dir)
    return choose_base(explicit, [manifest.engine], manifest.device_kind, cache_root=cache_root)


@dataclass
class BaseChoice:
    """`pipeline.build`'s before_build hook for `bei build`: chooses (and checks) the base for
    the plan's engines and device, and keeps it for the image step."""

    explicit: str | None
    cache_root: Path
    reference: str | None = None

    def __call__(self, spec: ArtifactSpec) -> None:
        engines = {candidate.engine for candidate in spec.choices()}
        self.reference = choose_base(
            self.explicit, engines, spec.device_kind, cache_root=self.cache_root
        )


def build_image(
    artifact_dir: Path,
    config_path: Path,
    base_ref: str,
    *,
    formats: Sequence[str] = ("oci",),
    report: Report = _quiet,
    tag: str = DEFAULT_TAG,
    labels: Mapping[str, str] | None = None,
    source_date_epoch: str | None = None,
) -> ImageResult:
    """`package_artifact` for a config file that has not been loaded yet (`bei image build`)."""
    return package_artifact(
        artifact_dir,
        load_config(config_path).config,
        base_ref,
        formats=formats,
        report=report,
        tag=tag,
        labels=labels,
        source_date_epoch=source_date_epoch,
    )


def package_artifact(
    artifact_dir: Path,
    config: BeiConfig,
    base_ref: str,
    *,
    formats: Sequence[str] = ("oci",),
    report: Report = _quiet,
    tag: str = DEFAULT_TAG,
    labels: Mapping[str, str] | None = None,
    source_date_epoch: str | None = None,
) -> ImageResult:
    """Write <artifact_dir>/image (always), image.tar (docker-archive) and the Dockerfile
    context for the validated `config`. `source_date_epoch` is $SOURCE_DATE_EPOCH, read by the
    caller."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise BuildError(
            f"unknown image format {', '.join(unknown)}.",
            param="--format",
            hint=f"Choose from {', '.join(FORMATS)}.",
        )
    config_yaml = resolved_config_yaml(config)
    env = dict(config.environment_variables)
    created = created_at(source_date_epoch)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bei-base-") as scratch:
        base = load_base(base_ref, Path(scratch))
        report(f"image: base {base_ref} ({len(base.layers.blobs)} layers)")
        result = write_image(
            artifact_dir,
            base,
            tag=tag,
            config_yaml=config_yaml,
            created=created,
            labels=labels,
            env=env,
            title=config.model_name,
        )
    report(
        f"image: {result.layout_dir} {result.manifest_digest} "
        f"({result.size >> 20} MiB, {time.monotonic() - start:.1f}s)"
    )
    if "docker-archive" in formats:
        archive = write_docker_archive(
            result.layout_dir,
            artifact_dir / ARCHIVE_NAME,
            reference=repo_tag(image_name(read_manifest(artifact_dir)), tag),
            mtime=created.epoch,
        )
        result = dataclasses.replace(result, archive=archive)
        report(f"image: docker-archive {archive}")
    elif (artifact_dir / ARCHIVE_NAME).exists():
        # An image.tar of an earlier image would be loaded by mistake: it goes with its image.
        (artifact_dir / ARCHIVE_NAME).unlink()
        report(f"image: removed the stale {ARCHIVE_NAME} (pass --format docker-archive for one)")
    image_labels = read_layout(result.layout_dir).config["config"]["Labels"]
    context = write_context(
        artifact_dir, base_reference=base_ref, config_yaml=config_yaml, labels=image_labels, env=env
    )
    report(f"image: Dockerfile context {context}")
    return dataclasses.replace(result, context_dir=context)
