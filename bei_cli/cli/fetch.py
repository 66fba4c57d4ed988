"""`bei fetch CONFIG`: run the build's fetch step alone and print the checkpoint directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bei_cli.checkpoint import DEFAULT_SECRETS_DIR, fetch_checkpoint
from bei_cli.cli.options import ConfigPath, SecretsDir, secret_lookup
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

CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Hugging Face cache directory (default: HF_HUB_CACHE, else HF_HOME/hub).",
        show_default=False,
    ),
]
Offline = Annotated[
    bool,
    typer.Option("--offline", help="Use only cached files, no network (= HF_HUB_OFFLINE=1)."),
]
AllowPickle = Annotated[
    bool,
    typer.Option(
        "--allow-pickle",
        help="Accept pytorch_model.bin where there are no safetensors. Unpickling can run code: "
        "trusted checkpoints only.",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


@dataclass(frozen=True)
class FetchFlags:
    """The fetch options `bei fetch` and `bei inspect` share."""

    cache_dir: Path | None = None
    secrets_dir: Path = DEFAULT_SECRETS_DIR
    offline: bool = False
    allow_pickle: bool = False
    quiet: bool = False


def fetch_configured(loaded: LoadedConfig, flags: FetchFlags) -> Path:
    repo = loaded.config.trt_llm.build.checkpoint_repository
    revision = f"@{repo.revision}" if repo.revision else ""
    if not flags.quiet:
        Console(stderr=True, highlight=False).print(
            f"fetching {repo.source} {repo.repo}{revision}", markup=False
        )
    return fetch_checkpoint(
        repo,
        secrets=secret_lookup(flags.secrets_dir),
        cache_dir=flags.cache_dir,
        progress=not flags.quiet,
        offline=flags.offline,
        allow_pickle=flags.allow_pickle,
    )


def command(
    config: ConfigPath,
    cache_dir: CacheDir = None,
    secrets_dir: SecretsDir = DEFAULT_SECRETS_DIR,
    offline: Offline = False,
    allow_pickle: AllowPickle = False,
    quiet: Quiet = False,
) -> None:
    flags = FetchFlags(cache_dir, secrets_dir, offline, allow_pickle, quiet)
    typer.echo(str(fetch_configured(load_config(config), flags)))
