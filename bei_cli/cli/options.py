"""Option and argument types shared by several commands (one definition, one help text)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from bei_cli.checkpoint import DEFAULT_SECRETS_DIR, FetchOptions, SecretLookup

ConfigPath = Annotated[
    Path,
    typer.Argument(
        help="Path to a Truss-compatible config.yaml.",
        exists=False,  # existence is checked by the config loader, with a better message
        dir_okay=False,
    ),
]
OutputDir = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Directory to write to (default: build/<model_name>)."),
]
SecretsDir = Annotated[
    Path,
    typer.Option(
        "--secrets-dir",
        help="Directory of secret files (one file per secret name), like Truss mounts them.",
    ),
]
CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Checkpoint cache directory: the Hugging Face cache for source HF (default "
        "HF_HUB_CACHE, else HF_HOME/hub), bei's cache for S3/GCS/AZURE/REMOTE_URL (default "
        "BEI_CACHE_DIR, else ~/.cache/bei).",
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
Target = Annotated[
    str | None,
    typer.Option(
        "--target",
        help="Build for this target instead of the config's resources.accelerator: cpu, or a "
        "Truss GPU type (L4, H100, H100:2, B200, ...). Every hardware rule judges the target.",
        show_default=False,
    ),
]


def fetch_options(
    secrets_dir: Path = DEFAULT_SECRETS_DIR,
    cache_dir: Path | None = None,
    offline: bool = False,
    allow_pickle: bool = False,
    quiet: bool = False,
) -> FetchOptions:
    """The fetch flags every fetching command shares, as the checkpoint step's options."""
    # The CLI edge is where the process environment is read, once.
    return FetchOptions(
        secrets=SecretLookup(environ=dict(os.environ), secrets_dir=secrets_dir),
        cache_dir=cache_dir,
        progress=not quiet,
        offline=offline,
        allow_pickle=allow_pickle,
    )
