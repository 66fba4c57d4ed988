"""`bei build CONFIG`: validate, fetch, inspect, plan and write the engine artifact."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bei_cli import pipeline
from bei_cli.checkpoint import DEFAULT_SECRETS_DIR, FetchOptions
from bei_cli.cli.fetch import announce
from bei_cli.cli.login import allow_plain_http_base
from bei_cli.cli.options import (
    AllowPickle,
    CacheDir,
    ConfigPath,
    Offline,
    OutputDir,
    Quiet,
    SecretsDir,
    Target,
    fetch_options,
)
from bei_cli.config.load import LoadedConfig, load_config
from bei_cli.engine.serving_claim import refuse_if_served
from bei_cli.engine.spec import ArtifactSpec
from bei_cli.hardware import host_has_native_bf16
from bei_cli.image.base_cache import cache_root
from bei_cli.image.build import BaseChoice, describe_base

HELP = (
    "Build an engine artifact from a Truss-compatible config.yaml for the target it names "
    "(resources.accelerator: a cuda artifact in BEI's dtype; none: this CPU; --target "
    "overrides): validate -> fetch checkpoint "
    "-> inspect -> plan -> build, smoke-test and accuracy-gate the engine (with `bei: {engine: "
    "auto}` on a CPU: the fastest accurate candidate, measured) -> package it as an OCI image "
    "on the base for its engine and device: from the base cache `bei image base` fills, or "
    "--base / BEI_BASE_IMAGE. A missing or unfit base is refused before any build work."
)
EXAMPLE = (
    "Examples:  bei build examples/all-minilm-l6-v2/config.yaml -o build/minilm   |   "
    "bei build config.yaml --target cpu   |   "
    "bei build config.yaml --dry-run   |   "
    "bei build config.yaml --base oci:build/base:cpu --format oci --format docker-archive"
)
ImageFormats = Annotated[
    list[str] | None,
    typer.Option(
        "--format",
        help="Image output, repeatable: oci (image/, always written) and docker-archive "
        "(image.tar, for `docker load`).",
    ),
]


def command(
    config: ConfigPath,
    output: OutputDir = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Fetch and inspect, print the plan, write nothing.")
    ] = False,
    cache_dir: CacheDir = None,
    secrets_dir: SecretsDir = DEFAULT_SECRETS_DIR,
    offline: Offline = False,
    allow_pickle: AllowPickle = False,
    quiet: Quiet = False,
    target: Target = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            envvar="BEI_BASE_IMAGE",
            help="Base runtime image for the OCI image: oci:DIR[:TAG], oci-archive:FILE, "
            "docker-archive:FILE or REGISTRY/REPO:TAG. Default: the base cache's variant for "
            "the artifact's engine and device (`bei image base --variant cpu|cpu-slim|cuda`).",
        ),
    ] = None,
    formats: ImageFormats = None,
    no_image: Annotated[
        bool, typer.Option("--no-image", help="Write the engine artifact only.")
    ] = False,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Pull a registry --base over plain HTTP (a local registry), as its host in "
            "BEI_INSECURE_REGISTRIES would. Never implied.",
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print one JSON object (artifact, engine, image reference) on stdout."
        ),
    ] = False,
) -> None:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if insecure:
        allow_plain_http_base(base)
    loaded = load_config(config, target=target)
    for warning in loaded.warnings:
        console.print(f"[yellow]warning[/]: {warning}", markup=True)
    out_dir = output or pipeline.default_output_dir(loaded.config)
    options = fetch_options(secrets_dir, cache_dir, offline, allow_pickle, quiet)
    announce(loaded, quiet)
    if dry_run:
        spec = print_plan(console, loaded, options, config, out_dir)
        if not no_image:
            line = f"  image base: {describe_base(base, spec, os.environ)}"
            console.print(line, markup=False, soft_wrap=True)
        return
    choice = BaseChoice(base, cache_root(os.environ))
    refuse_if_served(out_dir)  # pipeline.build checks too; here before the "replacing" line
    if (out_dir / "manifest.json").is_file():
        console.print(
            f"replacing the artifact in {out_dir} once the new one is built", markup=False
        )
    result = pipeline.build(loaded, out_dir, options, before_build=None if no_image else choice)
    print_built(console, result)
    reference: str | None = None
    digest: str | None = None
    if choice.reference is not None:
        image = pipeline.package(
            loaded,
            result.artifact_dir,
            choice.reference,
            formats=formats or ["oci"],
            report=lambda line: console.print(line, markup=False, soft_wrap=True),
            source_date_epoch=os.environ.get("SOURCE_DATE_EPOCH"),
        )
        digest = image.manifest_digest
        reference = f"oci:{image.layout_dir}:{image.ref_name}@{digest}"
        console.print("[green]image[/] (copy the next line whole):", markup=True)
        console.print(reference, markup=False, soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(built_summary(result, reference, digest), sort_keys=True))
    else:
        typer.echo(str(result.artifact_dir))


def built_summary(
    result: pipeline.BuildResult, image_reference: str | None, image_digest: str | None
) -> dict[str, object]:
    """What `bei build --json` prints: enough for a CI step to push or deploy what was built
    (`image` is the whole oci: reference, `image_digest` its manifest digest; null with
    --no-image)."""
    manifest = result.manifest
    return {
        "artifact_dir": str(result.artifact_dir),
        "engine": manifest.engine,
        "dtype": manifest.dtype,
        "device_kind": manifest.device_kind,
        "quantization": manifest.quantization,
        "served_model_name": manifest.served_model_name,
        "image": image_reference,
        "image_digest": image_digest,
    }


def print_plan(
    console: Console, loaded: LoadedConfig, options: FetchOptions, config: Path, out_dir: Path
) -> ArtifactSpec:
    """--dry-run: fetch and inspect, then print the quantization plan and the artifact plan."""
    profile = pipeline.inspect(loaded, pipeline.fetch(loaded, options))
    cpu_bf16 = host_has_native_bf16()
    # The quantization plan is printed before the artifact plan, which refuses what the target
    # cannot run or this release cannot build: the user sees why, then the error.
    quant = pipeline.quantization_plan(loaded.config, profile, cpu_bf16=cpu_bf16)
    lines = [f"quantization plan for {config}:"]
    lines += [f"  {k}: {'-' if v is None else v}" for k, v in vars(quant).items() if k != "notes"]
    lines += [f"  note: {note}" for note in quant.notes]
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)
    spec = pipeline.plan_artifact(loaded.config, profile, cpu_bf16=cpu_bf16)
    console.print(f"plan for {config}: would write {out_dir}", markup=False, soft_wrap=True)
    for key, value in sorted(vars(spec).items()):
        if key == "candidates":
            value = ", ".join(map(str, value)) or "-"
        if key != "quant_plan":  # printed above
            console.print(f"  {key}: {value}", markup=False, soft_wrap=True)
    return spec


def print_built(console: Console, result: pipeline.BuildResult) -> None:
    manifest, profile = result.manifest, result.profile
    console.print(
        f"[green]built[/] {result.artifact_dir}  engine={manifest.engine} dtype={manifest.dtype} "
        f"task={profile.task} dim={profile.embedding_dim} route={manifest.default_route}",
        markup=True,
    )
    if manifest.accuracy is not None:
        accuracy = manifest.accuracy
        console.print(
            f"accuracy: {accuracy.metric} {accuracy.value} (floor {accuracy.floor}, "
            f"{accuracy.texts} held-out texts vs {accuracy.reference})",
            markup=False,
        )
