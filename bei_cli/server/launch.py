"""From a built engine artifact to a running server: the glue `bei serve` calls.

Everything the server needs comes from the artifact's manifest (profile, limits, default route,
served name) and its `model/` directory (tokenizer.json); the CLI adds only where to listen,
the device, the API key and the log level.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from fastapi import FastAPI

from bei_cli.engine.artifact import MODEL_DIR, load_engine
from bei_cli.engine.manifest import Manifest
from bei_cli.errors import CredentialsError
from bei_cli.server.app import create_app
from bei_cli.server.run import serve
from bei_cli.server.settings import ServerSettings
from bei_cli.server.tokenizer import TextTokenizer


class SecretSource(Protocol):
    """Where secrets are looked up (the CLI passes checkpoint.SecretLookup)."""

    def get(self, name: str) -> str | None: ...


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 7997
    device: str = "auto"  # see bei_cli.engine.placement
    api_key: str | None = None
    log_level: str = "info"
    cors_origins: tuple[str, ...] = ()
    tracing: bool = False


def settings_for(manifest: Manifest, options: ServeOptions) -> ServerSettings:
    limits = manifest.limits
    return ServerSettings(
        host=options.host,
        port=options.port,
        max_batch_tokens=limits.max_num_tokens,
        max_batch_size=limits.max_batch_size,
        max_client_batch_size=limits.max_client_batch_size,
        max_concurrent_requests=limits.max_concurrent_requests,
        auto_truncate=limits.auto_truncate,
        served_model_name=manifest.served_model_name,
        default_route=manifest.default_route,
        api_key=options.api_key,
        log_level=options.log_level,
        cors_origins=options.cors_origins,
        tracing=options.tracing,
    )


def resolve_api_key(manifest: Manifest, options: ServeOptions, secrets: SecretSource) -> str | None:
    """--api-key wins; otherwise the secret the config named in `bei.api_key_secret`."""
    if options.api_key or not manifest.api_key_secret:
        return options.api_key
    key = secrets.get(manifest.api_key_secret)
    if key is None:
        raise CredentialsError(
            f"the artifact requires an API key from secret {manifest.api_key_secret!r}, "
            "which is not set.",
            hint=f"Set env {manifest.api_key_secret.upper()} or the file "
            f"/secrets/{manifest.api_key_secret}, or pass --api-key.",
        )
    return key


def app_from_artifact(
    artifact_dir: Path, options: ServeOptions, secrets: SecretSource | None = None
) -> tuple[FastAPI, ServerSettings]:
    """Load (and verify) the artifact's engine and tokenizer; build the app."""
    engine, manifest = load_engine(artifact_dir, device=options.device)
    if secrets is not None:
        options = replace(options, api_key=resolve_api_key(manifest, options, secrets))
    settings = settings_for(manifest, options)
    tokenizer = TextTokenizer.from_dir(artifact_dir / MODEL_DIR, manifest.limits.max_seq_len)
    return create_app(engine, tokenizer, manifest.profile, settings), settings


def serve_artifact(
    artifact_dir: Path, options: ServeOptions, secrets: SecretSource | None = None
) -> None:
    """Serve until SIGTERM/SIGINT (graceful drain), then return."""
    app, settings = app_from_artifact(artifact_dir, options, secrets)
    serve(app, settings)
