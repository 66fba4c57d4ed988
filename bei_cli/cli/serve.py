"""`bei serve ARTIFACT_DIR | CONFIG`: run the HTTP server on a built engine artifact.

Given a config.yaml instead of an artifact directory, it builds first (into --output or
build/<model_name>) and then serves what it built; the server itself only ever reads artifacts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bei_cli import pipeline
from bei_cli.checkpoint import DEFAULT_SECRETS_DIR
from bei_cli.cli.fetch import announce
from bei_cli.cli.options import (
    AllowPickle,
    CacheDir,
    Offline,
    OutputDir,
    SecretsDir,
    fetch_options,
)
from bei_cli.config.load import load_config
from bei_cli.server.launch import ServeOptions, serve_artifact

HELP = (
    "Serve an engine artifact over HTTP: OpenAI /v1/embeddings, TEI /embed, /health, /info, "
    "/metrics, /openapi.json. Pass a config.yaml to build and serve in one go."
)
EXAMPLE = (
    "Examples:  bei serve build/minilm --port 7997   |   "
    "bei serve examples/all-minilm-l6-v2/config.yaml   |   "
    "curl -s 127.0.0.1:7997/v1/embeddings -H 'content-type: application/json' "
    '-d \'{"input": "hello"}\''
)


def command(
    target: Annotated[
        Path, typer.Argument(help="An artifact directory (from `bei build`) or a config.yaml.")
    ],
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 7997,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="BEI_API_KEY",
            help="Require this key (Authorization: Bearer KEY or Api-Key KEY) on model routes.",
            show_default=False,
        ),
    ] = None,
    output: OutputDir = None,
    cache_dir: CacheDir = None,
    secrets_dir: SecretsDir = DEFAULT_SECRETS_DIR,
    offline: Offline = False,
    allow_pickle: AllowPickle = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    artifact_dir = target
    options = fetch_options(secrets_dir, cache_dir, offline, allow_pickle)
    if target.is_file():
        loaded = load_config(target)
        out_dir = output or pipeline.default_output_dir(loaded.config)
        announce(loaded, quiet=False)
        artifact_dir = pipeline.build(loaded, out_dir, options).artifact_dir
    Console(stderr=True).print(f"serving {artifact_dir} on http://{host}:{port}", markup=False)
    serve_artifact(
        artifact_dir,
        ServeOptions(host=host, port=port, device=device, api_key=api_key, log_level=log_level),
        secrets=options.secrets,
    )
