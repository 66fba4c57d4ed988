"""From a built engine artifact to a running server: the glue `bei serve` calls.

Everything the server needs comes from the artifact's manifest (profile, limits, default route,
served name) and its `model/` directory (tokenizer.json); the CLI adds only where to listen,
the device, the API key and the log level.

Processes (`ServeOptions.engine_process`, the default): `serve_artifact` starts the engine
process (`runtime.engine_process`: it loads the engine and owns the device and the batching
loop), then serves front-ends built by `app_factory` -- a picklable callable, so every
front-end process builds its own app connected to the one engine process -- and stops the
engine process once the front-ends have drained and exited. Without it the engine runs on a
thread of the one server process (`app_from_artifact`).
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from fastapi import FastAPI

from bei_cli.engine.artifact import MODEL_DIR, load_engine, read_manifest
from bei_cli.engine.manifest import Manifest
from bei_cli.errors import CredentialsError, EngineError, FrontEndError
from bei_cli.runtime.engine_process import start_engine_process
from bei_cli.runtime.process_client import EngineConnection
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
    token_ids: bool = True  # accept token-id inputs (ServerSettings.token_ids)
    engine_process: bool = True  # the engine in its own process; False: a thread of the server
    workers: int | None = None  # front-end processes (ServerSettings.workers)
    header_read_timeout_s: float = ServerSettings.header_read_timeout_s
    body_read_timeout_s: float = ServerSettings.body_read_timeout_s
    max_header_bytes: int = ServerSettings.max_header_bytes
    max_queue_wait_s: float | None = ServerSettings.max_queue_wait_s  # None: no bound


def settings_for(manifest: Manifest, options: ServeOptions) -> ServerSettings:
    limits = manifest.limits
    return ServerSettings(
        host=options.host,
        port=options.port,
        max_client_batch_size=limits.max_client_batch_size,
        max_concurrent_requests=limits.max_concurrent_requests,
        auto_truncate=limits.auto_truncate,
        token_ids=options.token_ids,
        served_model_name=manifest.served_model_name,
        default_route=manifest.default_route,
        api_key=options.api_key,
        log_level=options.log_level,
        cors_origins=options.cors_origins,
        tracing=options.tracing,
        workers=options.workers,
        header_read_timeout_s=options.header_read_timeout_s,
        body_read_timeout_s=options.body_read_timeout_s,
        max_header_bytes=options.max_header_bytes,
        max_queue_wait_s=options.max_queue_wait_s,
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


def with_api_key(
    manifest: Manifest, options: ServeOptions, secrets: SecretSource | None
) -> ServeOptions:
    if secrets is None:
        return options
    return replace(options, api_key=resolve_api_key(manifest, options, secrets))


def app_from_artifact(
    artifact_dir: Path, options: ServeOptions, secrets: SecretSource | None = None
) -> tuple[FastAPI, ServerSettings]:
    """Load (and verify) the artifact's engine in this process and build the app on it."""
    engine, manifest = load_engine(artifact_dir, device=options.device)
    settings = settings_for(manifest, with_api_key(manifest, options, secrets))
    tokenizer = TextTokenizer.from_dir(artifact_dir / MODEL_DIR, manifest.limits.max_seq_len)
    return create_app(engine, tokenizer, manifest.profile, settings), settings


def connected_app(
    artifact_dir: Path, settings: ServerSettings, connection: EngineConnection
) -> FastAPI:
    """The app of one front-end process, connected to the running engine process."""
    manifest = read_manifest(artifact_dir)
    tokenizer = TextTokenizer.from_dir(artifact_dir / MODEL_DIR, manifest.limits.max_seq_len)
    return create_app(connection, tokenizer, manifest.profile, settings)


def app_factory(
    artifact_dir: Path, settings: ServerSettings, connection: EngineConnection
) -> Callable[[], FastAPI]:
    """A picklable callable that builds `connected_app` in whichever process calls it."""
    return functools.partial(connected_app, artifact_dir, settings, connection)


def serve_artifact(
    artifact_dir: Path, options: ServeOptions, secrets: SecretSource | None = None
) -> None:
    """Serve until SIGTERM/SIGINT (graceful drain), then return."""
    if not options.engine_process:
        app, settings = app_from_artifact(artifact_dir, options, secrets)
        serve(app, settings)
        return
    manifest = read_manifest(artifact_dir)
    settings = settings_for(manifest, with_api_key(manifest, options, secrets))
    engine = start_engine_process(
        artifact_dir,
        device=options.device,
        max_queued=settings.max_queued_items,
        log_level=options.log_level,
    )
    try:
        serve(app_factory(artifact_dir, settings, engine.connection), settings)
    except (EngineError, FrontEndError) as exc:
        if engine.running:
            raise
        raise engine_exit_error(engine.process.returncode) from exc
    finally:
        engine.close()


def engine_exit_error(returncode: int) -> EngineError:
    """What stopped the server when its engine process exited on its own."""
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else ""
        how = f"was killed by signal {-returncode} {name}".rstrip()
    else:
        how = f"exited with code {returncode}"
    hint = "Its log above says why; a supervisor (Kubernetes, docker --restart) restarts bei serve."
    if returncode == -signal.SIGKILL:
        hint = (
            "SIGKILL is most often the kernel's out-of-memory killer (dmesg, or the "
            "container's OOMKilled status): give the server more memory, or "
            "build with a smaller trt_llm.build.max_num_tokens (the largest batch)."
        )
    return EngineError(f"The engine process {how} while serving; the server stopped.", hint=hint)
