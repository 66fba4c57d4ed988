"""`bei image base|build`: build a base runtime image, or package a built artifact as an image."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bei_cli.image.base_build import DEFAULT_MIRROR, build_base, variant
from bei_cli.image.build import DEFAULT_TAG, FORMATS, build_image

HELP = (
    "OCI images without a Docker daemon: `base` builds bei's CPU base runtime image from Debian "
    "packages (root needed); `build` packages an engine artifact onto a base as an OCI layout "
    "(image/), optionally a docker-archive (image.tar), plus a Dockerfile context."
)
EXAMPLE = (
    "Examples:  sudo bei image base --variant cpu-slim -o .ci/base   |   "
    "bei image build build/minilm --config config.yaml --base oci:.ci/base:cpu-slim "
    "--format docker-archive"
)
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

command = typer.Typer(
    name="image", help=HELP, epilog=EXAMPLE, no_args_is_help=True, add_completion=False
)


@command.command(
    "base",
    help="Build a CPU base runtime image (debootstrap + venv) as an OCI "
    "layout; needs root. The CUDA base is built from templates/cuda.Dockerfile.",
    epilog="Example:  sudo bei image base --variant cpu-slim -o .ci/base",
)
def base(
    output: Annotated[Path, typer.Option("--output", "-o", help="Layout directory to write.")],
    variant_name: Annotated[
        str, typer.Option("--variant", help="cpu-slim (onnx, no torch) or cpu (+ torch).")
    ] = "cpu-slim",
    work_dir: Annotated[
        Path | None,
        typer.Option(help="Scratch directory for the root filesystem (default: OUTPUT.work)."),
    ] = None,
    mirror: Annotated[str, typer.Option(help="Debian mirror.")] = DEFAULT_MIRROR,
    templates: Annotated[
        Path, typer.Option(help="Folder with requirements-<variant>.txt.")
    ] = TEMPLATES,
) -> None:
    console = Console(stderr=True, highlight=False)
    chosen = variant(variant_name)
    result = build_base(
        chosen,
        output,
        work_dir=work_dir or output.with_name(output.name + ".work"),
        templates=templates,
        host_env=dict(os.environ),  # the CLI edge: pip's CA and find-links, SOURCE_DATE_EPOCH
        mirror=mirror,
        progress=lambda line: console.print(line, markup=False, soft_wrap=True),
    )
    console.print(
        f"base {result.ref_name}: {result.layout_dir} {result.manifest_digest} "
        f"({result.size >> 20} MiB)",
        markup=False,
        soft_wrap=True,
    )
    typer.echo(f"oci:{result.layout_dir}:{result.ref_name}")


@command.command(
    "build",
    help="Package a built engine artifact onto a base image: "
    "<ARTIFACT>/image (OCI layout), image.tar with --format docker-archive, and a "
    "Dockerfile context.",
    epilog="Example:  bei image build build/minilm --config config.yaml "
    "--base oci:.ci/base:cpu-slim --format docker-archive",
)
def build(
    artifact: Annotated[Path, typer.Argument(help="The artifact directory `bei build` wrote.")],
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            help="The config.yaml it was built from (bundled with secret values blanked).",
        ),
    ],
    base_ref: Annotated[
        str,
        typer.Option(
            "--base",
            envvar="BEI_BASE_IMAGE",
            help="Base image: oci:DIR[:TAG], "
            "oci-archive:FILE, docker-archive:FILE or REGISTRY/REPO:TAG.",
        ),
    ],
    formats: Annotated[
        list[str] | None,
        typer.Option("--format", help=f"Also write: {', '.join(FORMATS)} (repeatable)."),
    ] = None,
    tag: Annotated[str, typer.Option(help="Tag recorded in index.json.")] = DEFAULT_TAG,
) -> None:
    console = Console(stderr=True, highlight=False)
    result = build_image(
        artifact,
        config,
        base_ref,
        formats=formats or ["oci"],
        report=lambda line: console.print(line, markup=False, soft_wrap=True),
        tag=tag,
        source_date_epoch=os.environ.get("SOURCE_DATE_EPOCH"),
    )
    typer.echo(f"oci:{result.layout_dir}:{result.ref_name}@{result.manifest_digest}")
