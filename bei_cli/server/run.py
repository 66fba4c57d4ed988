"""serve: run an app under uvicorn on settings.host:settings.port.

SIGTERM/SIGINT drain gracefully (uvicorn's shutdown, plus readiness): /health turns 503 at
once, the listening socket closes, in-flight requests finish (up to
`settings.shutdown_timeout_s`), then the app's lifespan stops the engine thread and the process
exits. Plain HTTP/1.1 (uvicorn has no h2c): the performance client's http_version=2 mode needs a
proxy in front.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI

from bei_cli.server.settings import ServerSettings
from bei_cli.server.state import ServerState


class _DrainingServer(uvicorn.Server):
    """uvicorn.Server that also marks the app not ready the moment a signal arrives."""

    def __init__(self, config: uvicorn.Config, state: ServerState | None) -> None:
        super().__init__(config)
        self._state = state

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._state is not None:
            self._state.ready = False
        super().handle_exit(sig, frame)


def uvicorn_config(app: FastAPI, settings: ServerSettings) -> uvicorn.Config:
    timeout = settings.shutdown_timeout_s
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        lifespan="on",
        timeout_graceful_shutdown=None if timeout is None else math.ceil(timeout),
    )


def serve(app_or_factory: FastAPI | Callable[[], FastAPI], settings: ServerSettings) -> None:
    """Serve until SIGTERM/SIGINT, then drain and return. A factory is called here, once."""
    app = app_or_factory if isinstance(app_or_factory, FastAPI) else app_or_factory()
    state = getattr(app.state, "server", None)
    _DrainingServer(uvicorn_config(app, settings), state).run()
