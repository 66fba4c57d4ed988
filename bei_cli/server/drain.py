"""DrainGate: the outermost ASGI layer of a front-end, which knows what is in flight.

Draining (SIGTERM): the app is marked not ready, so `/health` answers 503 (a load balancer
takes the replica out); every other new request is answered 503 `service_unavailable` with
`Connection: close` -- on a socket that still accepts, so a client never sees "connection
refused" while the replica winds down -- and the gate waits until the requests already in
flight have answered (or `timeout_s` has passed). Then the server may stop.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from bei_cli.errors import NotReadyError
from bei_cli.server.errors import error_response
from bei_cli.server.state import ServerState

HEALTH_PATHS = frozenset({"/health", "/health/"})
POLL_S = 0.02


class DrainGate:
    def __init__(self, app: ASGIApp, state: ServerState | None) -> None:
        self.app = app
        self.state = state
        self.in_flight = 0
        self.draining = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.draining and scope["path"] not in HEALTH_PATHS:
            err = NotReadyError("The server is shutting down.", hint="Retry on another replica.")
            await error_response(err, {"connection": "close"})(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def begin_drain(self) -> None:
        self.draining = True
        if self.state is not None:
            self.state.ready = False

    async def wait_idle(self, timeout_s: float | None) -> bool:
        """True once nothing is in flight; False when `timeout_s` ran out first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.in_flight > 0:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True
