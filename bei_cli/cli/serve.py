"""`bei serve ARTIFACT_DIR | CONFIG`: run the HTTP server on a built engine artifact.

Given a config.yaml instead of an artifact directory, it builds first (into --output or
build/<model_name>) for the hardware it runs on, and then serves what it built; the server
itself only ever reads artifacts.
"""

from __future__ import annotations

import socket
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
from bei_cli.config.load import CPU_TARGET, load_config
from bei_cli.engine.artifact import read_manifest
from bei_cli.engine.placement import cuda_available
from bei_cli.engine.serving_claim import claim_serving
from bei_cli.errors import ConfigError
from bei_cli.server.launch import ServeOptions, serve_artifact
from bei_cli.server.settings import ServerSettings

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
    device: Annotated[
        str,
        typer.Option(
            help="auto, cpu, cuda or cuda:N. auto: a cuda artifact on this machine's GPU, or on "
            "the CPU (with a warning) where there is none; a CPU artifact on the CPU."
        ),
    ] = "auto",
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
    cors: Annotated[
        list[str] | None,
        typer.Option(
            help="Allow browser calls from this origin (repeatable; `*` for any). Off by default.",
            show_default=False,
        ),
    ] = None,
    tracing: Annotated[
        bool,
        typer.Option(
            help="OpenTelemetry: a span per request to the configured tracer provider "
            "(run under `opentelemetry-instrument`, or set one up; needs opentelemetry-api)."
        ),
    ] = False,
    token_ids: Annotated[
        bool,
        typer.Option(
            "--token-ids/--no-token-ids",
            envvar="BEI_TOKEN_IDS",
            help="Accept token-id inputs on the embedding routes (as OpenAI and TEI do). "
            "--no-token-ids answers them 422: for clients that may send another tokenizer's "
            "ids (langchain-openai's default).",
        ),
    ] = True,
    engine_process: Annotated[
        bool,
        typer.Option(
            "--engine-process/--no-engine-process",
            help="Run the engine in a process of its own, which owns the device and the "
            "batching queue, so HTTP, tokenization and the engine never share a GIL (the "
            "default). --no-engine-process runs it on a thread of the server process.",
        ),
    ] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="HTTP front-end processes on the one port (each tokenizes and encodes; all "
            "share the engine process). Default: half the cores, 1 to 8; 1 with "
            "--no-engine-process.",
            show_default=False,
        ),
    ] = None,
    header_timeout: Annotated[
        float,
        typer.Option(
            min=0.001,
            max=60,
            help="Seconds a client has to send a request's headers; also how long an idle "
            "keep-alive connection stays open.",
        ),
    ] = ServerSettings.header_read_timeout_s,
    body_timeout: Annotated[
        float,
        typer.Option(
            min=0.001,
            help="Longest pause (seconds) between two pieces of a request body: a stalled "
            "upload is answered 408 and closed.",
        ),
    ] = ServerSettings.body_read_timeout_s,
    max_header_bytes: Annotated[
        int,
        typer.Option(min=8192, help="Largest request header block; larger is answered 431."),
    ] = ServerSettings.max_header_bytes,
    max_queue_wait: Annotated[
        float,
        typer.Option(
            min=0,
            help="Longest estimated wait (seconds) before a request's inputs start: the "
            "batches queued ahead at the engine's measured batch cost. A request that would "
            "wait longer is answered 429 with Retry-After. 0: no bound (queue everything, as "
            "TEI does). Set it to your latency target, e.g. 1.",
        ),
    ] = ServerSettings.max_queue_wait_s or 0.0,
) -> None:
    artifact_dir = target
    options = fetch_options(secrets_dir, cache_dir, offline, allow_pickle)
    require_free_port(host, port)  # before minutes of building or loading, not after
    if target.is_file():
        # Build-and-serve builds for the hardware it runs on: the config's GPU where this
        # machine has one, else this CPU (`bei build` builds for the config's target).
        loaded = load_config(target, target=None if cuda_available() else CPU_TARGET)
        console = Console(stderr=True, highlight=False)
        for warning in loaded.warnings:
            console.print(f"[yellow]warning[/]: {warning}", markup=True)
        out_dir = output or pipeline.default_output_dir(loaded.config)
        announce(loaded, quiet=False)
        artifact_dir = pipeline.build(loaded, out_dir, options).artifact_dir
    read_manifest(artifact_dir)  # "not an engine artifact" before any "serving" line
    Console(stderr=True).print(f"serving {artifact_dir} on http://{host}:{port}", markup=False)
    serve_options = ServeOptions(
        host=host,
        port=port,
        device=device,
        api_key=api_key,
        log_level=log_level,
        cors_origins=tuple(cors or ()),
        tracing=tracing,
        token_ids=token_ids,
        engine_process=engine_process,
        workers=1 if workers is None and not engine_process else workers,
        header_read_timeout_s=header_timeout,
        body_read_timeout_s=body_timeout,
        max_header_bytes=max_header_bytes,
        max_queue_wait_s=max_queue_wait or None,
    )
    with claim_serving(artifact_dir, f"{host}:{port}"):  # `bei build -o` refuses this dir now
        serve_artifact(artifact_dir, serve_options, secrets=options.secrets)


def require_free_port(host: str, port: int) -> None:
    """Refuse a port another process listens on, the way the server's own bind would fail
    (SO_REUSEADDR, as the server sets it, so a port in TIME_WAIT counts as free; a port
    held by another SO_REUSEPORT listener is refused too)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"cannot resolve --host {host!r}: {exc}", param="--host") from exc
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                param="--port",
                hint="Another process holds the port (a `bei serve` still running?): stop it, "
                "or pick another --port.",
            ) from exc
