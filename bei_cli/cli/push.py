"""`bei push [BUILD_DIR] --registry REG[/REPO]`: push the built OCI image (never rebuilds)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

from bei_cli.cli.login import Insecure, PasswordStdin, Username, read_cli_credentials
from bei_cli.engine.artifact import read_manifest
from bei_cli.engine.manifest import MANIFEST_NAME
from bei_cli.errors import ArtifactError, ConfigError
from bei_cli.image.naming import image_name, short_name
from bei_cli.oci import Blob, LayoutImage, is_layout, read_layout
from bei_cli.registry.push import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_ENVIRONMENT,
    PushResult,
    plan_tags,
    push_image,
)
from bei_cli.registry.reference import parse_target, repository_name
from bei_cli.registry.session import open_client

HELP = (
    "Push the image `bei build` wrote (BUILD_DIR/image, an OCI layout) to a registry over the OCI "
    "distribution API. Without --publish it pushes the development tag `dev`; --publish pushes "
    "an immutable version tag (--version, default sha-<digest>); --promote also moves the "
    "--environment tag (default production). Blobs the registry has are skipped. Credentials: "
    "--username/--password-stdin, else BEI_REGISTRY_USERNAME/BEI_REGISTRY_PASSWORD, else the "
    "docker config (`bei login`). Prints REG/REPO:TAG@DIGEST per tag."
)
EXAMPLE = (
    "Examples:  bei push build/all-minilm-l6-v2 --registry registry.example.com/team   |   "
    "bei push build/minilm --registry 127.0.0.1:5000 --insecure --publish --promote"
)

_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)(?:i?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`16MiB`, `512K`, `1048576` as bytes."""
    match = _SIZE.match(text)
    if not match or int(match.group(1)) <= 0:
        raise ConfigError(f"invalid size {text!r}", hint="e.g. 16MiB, 512KiB or a byte count")
    return int(match.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[match.group(2).upper()]


def find_layout(build_dir: Path) -> Path:
    """BUILD_DIR/image when it is a layout, else BUILD_DIR itself; refused when neither is."""
    for candidate in (build_dir / "image", build_dir):
        if is_layout(candidate):
            return candidate
    raise ArtifactError(
        f"{build_dir} holds no OCI image (no image/ layout with oci-layout and index.json)",
        hint=f"package the artifact first: `bei image build {build_dir}` (it reads "
        f"{build_dir}/config.yaml and takes the base from the base cache, or --base REF), or "
        "build with the image step: `bei build CONFIG -o DIR` without --no-image",
    )


def model_repository(build_dir: Path, image: LayoutImage) -> str:
    """The default repository (docs/push.md): the artifact's image name (`image.naming`: the
    last part of the checkpoint repository), else the image's title label, else the build
    directory's name."""
    if (build_dir / MANIFEST_NAME).is_file():
        return repository_name(image_name(read_manifest(build_dir)))
    title = image.labels.get("org.opencontainers.image.title")
    if title:
        return repository_name(short_name(str(title)) or "bei-model")
    folder = build_dir.resolve()
    return repository_name(folder.parent.name if folder.name == "image" else folder.name)


class RichPushProgress:
    """A bar per blob and a plain line when each is done (the line is what scripts can follow)."""

    def __init__(self, progress: Progress, console: Console) -> None:
        self._progress = progress
        self._console = console
        self._tasks: dict[str, TaskID] = {}

    def blob_started(self, blob: Blob) -> None:
        label = blob.digest[7:19]
        self._tasks[blob.digest] = self._progress.add_task(label, total=blob.size)

    def blob_advanced(self, blob: Blob, done: int) -> None:
        self._progress.update(self._tasks[blob.digest], completed=done)

    def blob_finished(self, blob: Blob, uploaded: bool) -> None:
        task = self._tasks.pop(blob.digest)
        self._progress.remove_task(task)
        state = "uploaded" if uploaded else "exists  "
        self._console.print(f"{state} {blob.digest} ({_mib(blob.size)})", markup=False)


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def command(
    build_dir: Annotated[
        Path,
        typer.Argument(help="The build directory (its image/ layout), or an OCI layout itself."),
    ] = Path("."),
    registry: Annotated[
        str,
        typer.Option(
            "--registry",
            "-r",
            help="Registry HOST[:PORT], optionally followed by /REPOSITORY (the whole repository "
            "path; default: the image name, e.g. all-minilm-l6-v2 for "
            "sentence-transformers/all-MiniLM-L6-v2).",
        ),
    ] = "",
    publish: Annotated[
        bool, typer.Option("--publish", help="Push an immutable version tag.")
    ] = False,
    version: Annotated[
        str | None,
        typer.Option("--version", help="The version tag with --publish (default sha-<12 hex>)."),
    ] = None,
    promote: Annotated[
        bool,
        typer.Option("--promote", help="With --publish: move the environment tag to this image."),
    ] = False,
    environment: Annotated[
        str, typer.Option("--environment", help="The tag --promote moves.")
    ] = DEFAULT_ENVIRONMENT,
    insecure: Insecure = False,
    chunk_size: Annotated[
        str, typer.Option("--chunk-size", help="Upload blobs in chunks of this size.")
    ] = f"{DEFAULT_CHUNK_SIZE >> 20}MiB",
    username: Username = None,
    password_stdin: PasswordStdin = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON object (digest, tags, references) on stdout."),
    ] = False,
) -> None:
    if not registry:
        raise ConfigError("bei push needs --registry REG[/REPO]", hint=EXAMPLE)
    host, repository = parse_target(registry)
    chunk = parse_size(chunk_size)
    credentials = read_cli_credentials(username, password_stdin)
    image = read_layout(find_layout(build_dir))
    repository = repository or model_repository(build_dir, image)
    plans = plan_tags(
        image.manifest_digest,
        publish=publish,
        version=version,
        promote=promote,
        environment=environment,
    )
    console = Console(stderr=True, highlight=False, soft_wrap=True, quiet=quiet)
    started = time.monotonic()
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        console=console,
        transient=True,
        disable=quiet,
    )
    with (
        open_client(
            host,
            repository,
            "pull,push",
            environ=dict(os.environ),
            credentials=credentials,
            insecure=insecure,
        ) as client,
        bars,
    ):
        result = push_image(
            image,
            client,
            repository,
            plans,
            chunk_size=chunk,
            progress=RichPushProgress(bars, console),
        )
    _summarize(console, result, time.monotonic() - started)
    references = [f"{host}/{repository}:{tag}@{result.digest}" for tag in result.tags]
    if as_json:
        summary = {
            "registry": host,
            "repository": repository,
            "digest": result.digest,
            "tags": list(result.tags),
            "references": references,
            "uploaded": result.uploaded,
            "skipped": result.skipped,
        }
        typer.echo(json.dumps(summary, sort_keys=True))
        return
    for reference in references:
        typer.echo(reference)


def _summarize(console: Console, result: PushResult, seconds: float) -> None:
    console.print(
        f"pushed {result.uploaded} blobs ({_mib(result.uploaded_bytes)}), skipped "
        f"{result.skipped} the registry had, tags {', '.join(result.tags)} in {seconds:.1f}s",
        markup=False,
    )
