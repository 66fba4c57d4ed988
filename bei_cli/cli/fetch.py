"""`bei fetch CONFIG`: run the build's fetch step alone and print the checkpoint directory."""

from __future__ import annotations

import typer
from rich.console import Console

from bei_cli import pipeline
from bei_cli.checkpoint import DEFAULT_SECRETS_DIR
from bei_cli.checkpoint.http_site import public_url
from bei_cli.cli.options import (
    AllowPickle,
    CacheDir,
    ConfigPath,
    Offline,
    Quiet,
    SecretsDir,
    fetch_options,
)
from bei_cli.config.load import LoadedConfig, load_config

HELP = (
    "Fetch the checkpoint named by trt_llm.build.checkpoint_repository (HF through the Hugging "
    "Face cache, or a LOCAL directory), check it has config.json, tokenizer.json and "
    "safetensors weights, and print its local directory. The build's fetch step, run alone."
)
EXAMPLE = (
    "Examples:  bei fetch examples/all-minilm-l6-v2/config.yaml   |   "
    "HF_HUB_OFFLINE=1 bei fetch config.yaml --cache-dir /models/hub"
)


def announce(loaded: LoadedConfig, quiet: bool) -> None:
    repo = loaded.config.trt_llm.build.checkpoint_repository
    revision = f"@{repo.revision}" if repo.revision else ""
    if not quiet:
        Console(stderr=True, highlight=False).print(
            f"fetching {repo.source} {public_url(repo.repo)}{revision}", markup=False
        )


def command(
    config: ConfigPath,
    cache_dir: CacheDir = None,
    secrets_dir: SecretsDir = DEFAULT_SECRETS_DIR,
    offline: Offline = False,
    allow_pickle: AllowPickle = False,
    quiet: Quiet = False,
) -> None:
    loaded = load_config(config)
    announce(loaded, quiet)
    options = fetch_options(secrets_dir, cache_dir, offline, allow_pickle, quiet)
    typer.echo(str(pipeline.fetch(loaded, options)))
