"""`bei image base|build`: build a base runtime image, or package a built artifact as an image."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bei_cli.cli.login import allow_plain_http_base
from bei_cli.errors import ConfigError
from bei_cli.image.base_build import (
    DEFAULT_MIRROR,
    TEMPLATES,
    build_base,
    requirement_files,
    variant,
)
from bei_cli.image.base_cache import cache_root, layout_dir, list_cached, store
from bei_cli.image.build import DEFAULT_TAG, FORMATS, base_for_artifact, build_image
from bei_cli.image.variants import DEVICES_LABEL, ENGINES_LABEL, VARIANTS, BaseVariant

HELP = (
    "OCI images without a Docker daemon: `base` builds one of bei's base runtime images (cpu-slim, "
    "cpu, cuda) from Debian packages and pip (root needed) into the per-user base cache that "
    "`bei build` takes its base from; `ls` lists that cache; `build` packages an engine artifact "
    "onto a base as an OCI layout (image/), optionally a docker-archive (image.tar), plus a "
    "Dockerfile context."
)
EXAMPLE = (
    "Examples:  sudo bei image base --variant cpu   |   bei image ls   |   "
    "bei image build build/minilm --config config.yaml --format docker-archive"
)

command = typer.Typer(
    name="image", help=HELP, epilog=EXAMPLE, no_args_is_help=True, add_completion=False
)


@command.command(
    "base",
    help="Build a base runtime image (debootstrap + venv, one layer) as an OCI layout; needs "
    "root. Stored in the per-user base cache ($BEI_BASE_CACHE, else $XDG_CACHE_HOME/bei/bases, "
    "else ~/.cache/bei/bases) unless -o is given. Variants: "
    + "; ".join(f"{v.name}: {v.summary}" for v in VARIANTS.values())
    + ".",
    epilog="Examples:  sudo bei image base --variant cpu   |   "
    "sudo bei image base --variant cuda   |   bei image base --variant cpu --dry-run",
)
def base(
    variant_name: Annotated[
        str, typer.Option("--variant", help=f"One of {', '.join(VARIANTS)}.")
    ] = "cpu-slim",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Layout directory to write instead of the base cache."),
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(help="Scratch directory for the root filesystem (default: OUTPUT.work)."),
    ] = None,
    mirror: Annotated[str, typer.Option(help="Debian mirror.")] = DEFAULT_MIRROR,
    templates: Annotated[
        Path,
        typer.Option(help="Folder with requirements-<variant>.txt (default: bei's own)."),
    ] = TEMPLATES,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print what would be installed and where; build nothing."),
    ] = False,
) -> None:
    console = Console(stderr=True, highlight=False)
    chosen = variant(variant_name)
    root = cache_root(os.environ)
    target = output or layout_dir(root, chosen.name)
    if dry_run:
        print_base_plan(chosen, target, templates)
        return
    built = output or target.with_name(target.name + ".partial")
    result = build_base(
        chosen,
        built,
        work_dir=work_dir or target.with_name(target.name + ".work"),
        templates=templates,
        host_env=dict(os.environ),  # the CLI edge: pip's CA and find-links, SOURCE_DATE_EPOCH
        mirror=mirror,
        progress=lambda line: console.print(line, markup=False, soft_wrap=True),
    )
    if output is None:
        store(built, root, chosen.name)
    console.print(
        f"base {result.ref_name}: {target} {result.manifest_digest} ({result.size >> 20} MiB)",
        markup=False,
        soft_wrap=True,
    )
    typer.echo(f"oci:{target}:{result.ref_name}")


def print_base_plan(chosen: BaseVariant, target: Path, templates: Path) -> None:
    """--dry-run: the variant's labels, its requirements (includes resolved) and its place."""
    typer.echo(f"variant: {chosen.name} ({chosen.summary})")
    typer.echo(f"engines: {','.join(chosen.engines)}  devices: {','.join(chosen.devices)}")
    typer.echo(f"writes: oci:{target}:{chosen.name}")
    for path in requirement_files(chosen, templates):
        typer.echo(f"requirements: {path}")
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith(("#", "-r")):
                typer.echo(f"  {line.strip()}")
    if chosen.uses_find_links:
        typer.echo("torch: the CPU wheel from PIP_FIND_LINKS (checked after install)")


@command.command(
    "ls",
    help="List the bases in the per-user base cache: variant, reference, digest, size, engines "
    "and devices.",
    epilog="Example:  bei image ls",
)
def list_bases() -> None:
    root = cache_root(os.environ)
    found = list_cached(root)
    if not found:
        typer.echo(f"no bases in {root}; build one with `sudo bei image base --variant cpu`")
        return
    for entry in found:
        engines = entry.labels.get(ENGINES_LABEL, "-")
        devices = entry.labels.get(DEVICES_LABEL, "-")
        typer.echo(
            f"{entry.variant}\t{entry.reference}\t{entry.digest}\t{entry.size >> 20} MiB\t"
            f"engines={engines}\tdevices={devices}"
        )


@command.command(
    "build",
    help="Package a built engine artifact onto a base image: "
    "<ARTIFACT>/image (OCI layout), image.tar with --format docker-archive, and a "
    "Dockerfile context.",
    epilog="Examples:  bei image build build/minilm --format docker-archive"
    "   |   bei image build build/minilm -c config.yaml --base oci:build/base:cpu",
)
def build(
    artifact: Annotated[Path, typer.Argument(help="The artifact directory `bei build` wrote.")],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="The config.yaml it was built from (bundled with secret values blanked). "
            "Default: ARTIFACT/config.yaml, the resolved config `bei build` leaves there.",
            show_default=False,
        ),
    ] = None,
    base_ref: Annotated[
        str | None,
        typer.Option(
            "--base",
            envvar="BEI_BASE_IMAGE",
            help="Base image: oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or "
            "REGISTRY/REPO:TAG. Default: the base cache's variant for the artifact's engine "
            "and device.",
        ),
    ] = None,
    formats: Annotated[
        list[str] | None,
        typer.Option("--format", help=f"Also write: {', '.join(FORMATS)} (repeatable)."),
    ] = None,
    tag: Annotated[str, typer.Option(help="Tag recorded in index.json.")] = DEFAULT_TAG,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure", help="Pull a registry --base over plain HTTP (a local registry)."
        ),
    ] = False,
) -> None:
    console = Console(stderr=True, highlight=False)
    if insecure:
        allow_plain_http_base(base_ref)
    config_path = config or artifact / "config.yaml"
    if not config_path.is_file():
        raise ConfigError(
            f"{config_path} does not exist",
            param="--config",
            hint="pass the config.yaml the artifact was built from: --config PATH",
        )
    result = build_image(
        artifact,
        config_path,
        base_for_artifact(artifact, base_ref, cache_root=cache_root(os.environ)),
        formats=formats or ["oci"],
        report=lambda line: console.print(line, markup=False, soft_wrap=True),
        tag=tag,
        source_date_epoch=os.environ.get("SOURCE_DATE_EPOCH"),
    )
    typer.echo(f"oci:{result.layout_dir}:{result.ref_name}@{result.manifest_digest}")
