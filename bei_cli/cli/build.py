"""`bei build CONFIG`: validate, fetch, inspect, plan and write the engine artifact."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from bei_cli import pipeline
from bei_cli.checkpoint import DEFAULT_SECRETS_DIR
from bei_cli.cli.fetch import announce
from bei_cli.cli.options import (
    AllowPickle,
    CacheDir,
    ConfigPath,
    Offline,
    OutputDir,
    Quiet,
    SecretsDir,
    fetch_options,
)
from bei_cli.config.load import load_config

HELP = (
    "Build an engine artifact from a Truss-compatible config.yaml: validate -> fetch checkpoint "
    "-> inspect -> plan -> build and smoke-test the engine. The OCI image step is not built yet."
)
EXAMPLE = (
    "Examples:  bei build examples/all-minilm-l6-v2/config.yaml -o build/minilm   |   "
    "bei build config.yaml --dry-run"
)


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
) -> None:
    console = Console(stderr=True, highlight=False)
    loaded = load_config(config)
    for warning in loaded.warnings:
        console.print(f"[yellow]warning[/]: {warning}", markup=True)
    out_dir = output or pipeline.default_output_dir(loaded.config)
    options = fetch_options(secrets_dir, cache_dir, offline, allow_pickle, quiet)
    announce(loaded, quiet)
    if dry_run:
        profile = pipeline.inspect(loaded, pipeline.fetch(loaded, options))
        # The quantization plan is printed before the artifact plan, which refuses what the
        # target cannot run or this release cannot build: the user sees why, then the error.
        quant = pipeline.quantization_plan(loaded.config, profile)
        console.print(f"quantization plan for {config}:", markup=False, soft_wrap=True)
        for key, value in vars(quant).items():
            if key != "notes":
                console.print(
                    f"  {key}: {'-' if value is None else value}", markup=False, soft_wrap=True
                )
        for note in quant.notes:
            console.print(f"  note: {note}", markup=False, soft_wrap=True)
        spec = pipeline.plan_artifact(loaded.config, profile)
        console.print(f"plan for {config}: would write {out_dir}", markup=False, soft_wrap=True)
        for key, value in sorted(vars(spec).items()):
            console.print(f"  {key}: {value}", markup=False, soft_wrap=True)
        return
    result = pipeline.build(loaded, out_dir, options)
    manifest = result.manifest
    console.print(
        f"[green]built[/] {result.artifact_dir}  engine={manifest.engine} dtype={manifest.dtype} "
        f"task={result.profile.task} dim={result.profile.embedding_dim} "
        f"route={manifest.default_route}",
        markup=True,
    )
    console.print(
        "note: the OCI image step is not built yet (a later release); serve the artifact with "
        f"`bei serve {result.artifact_dir}`.",
        markup=False,
    )
    typer.echo(str(result.artifact_dir))
