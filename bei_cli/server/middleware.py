"""Pure ASGI middlewares (no BaseHTTPMiddleware: it costs a task per request).

Outermost first, as `app.py` stacks them:
- RequestMetrics: count every answer by route template and status, time it;
- ErrorGuard: a bug anywhere below becomes a logged 500 envelope, never a dropped connection;
- RequestBodyGuard: 413 for bodies over the limit, 415 for non-JSON bodies, 400 for bodies that
  are not valid UTF-8 JSON -- lone surrogates (`"\\ud800"`) included, which Python's json module
  would let through to fail deep inside the tokenizer -- before any route parses them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bei_cli.errors import (
    BeiError,
    MalformedRequestError,
    PayloadTooLargeError,
    RequestTimeoutError,
    UnsupportedMediaTypeError,
)
from bei_cli.server.errors import error_response, internal_error_response
from bei_cli.server.metrics import ServerMetrics
from bei_cli.server.transport import header

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._cache: dict[tuple[str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_capturing(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_capturing)
        finally:
            route: BaseRoute | None = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            count, duration = self._children(label, status)
            count.inc()
            duration.observe(time.perf_counter() - started)

    def _children(self, label: str, status: int) -> tuple[Any, Any]:
        """prometheus' `labels()` lock and lookup once per (route, status), not per request."""
        key = (label, status)
        found = self._cache.get(key)
        if found is None:
            found = (
                self.metrics.requests.labels(label, str(status)),
                self.metrics.request_duration.labels(label),
            )
            self._cache[key] = found
        return found


class ErrorGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            if started:  # too late for an error body; the connection is closed by the server
                raise
            response = (
                error_response(exc) if isinstance(exc, BeiError) else internal_error_response(exc)
            )
            await response(scope, receive, send)


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and "+json" in media)


class BodyReader:
    """Reads a whole request body, up to `limit` bytes: 413 beyond it, 408 when the client
    pauses longer than `read_timeout_s` between two pieces (a stalled upload holds at most
    `limit` bytes, and only until then). Shared by RequestBodyGuard and the fast lane."""

    def __init__(self, limit_bytes: int, read_timeout_s: float | None = None) -> None:
        self.limit = limit_bytes
        self.read_timeout_s = read_timeout_s

    async def read(self, receive: Receive) -> bytes:
        first = await self._receive(receive)
        if not first.get("more_body", False) or first["type"] == "http.disconnect":
            whole = bytes(first.get("body", b""))  # the common case: one piece, no copy
            if len(whole) > self.limit:
                raise self.too_large()
            return whole
        body = bytearray()
        message = first
        while True:
            body += message.get("body", b"")
            if len(body) > self.limit:
                raise self.too_large()
            if not message.get("more_body", False):
                return bytes(body)
            message = await self._receive(receive)
            if message["type"] == "http.disconnect":
                return bytes(body)

    async def _receive(self, receive: Receive) -> Message:
        try:
            async with asyncio.timeout(self.read_timeout_s):  # a timer, not a task
                return await receive()
        except TimeoutError:
            raise RequestTimeoutError(
                f"The request body stalled for more than {self.read_timeout_s:g} s.",
                hint="Send the whole body without pausing; the connection is closed.",
            ) from None

    def too_large(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"The request body is larger than the server's limit of {self.limit} bytes.",
            hint="Send fewer or shorter inputs per request.",
        )


def body_error_response(err: BeiError) -> Response:
    """How a body that could not be read is answered: a stalled one also closes the connection."""
    if isinstance(err, RequestTimeoutError):
        return error_response(err, {"connection": "close"})
    return error_response(err)


class RequestBodyGuard:
    """Reads the whole body (up to the limit, `BodyReader`) before the app sees it, checks it
    is JSON, then replays it."""

    def __init__(self, app: ASGIApp, limit_bytes: int, read_timeout_s: float | None = None) -> None:
        self.app = app
        self.reader = BodyReader(limit_bytes, read_timeout_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        try:
            content_type = header(scope, b"content-type")
            if content_type is not None and not is_json(content_type):
                raise UnsupportedMediaTypeError(
                    f"Send the body as JSON with Content-Type: application/json "
                    f"(got {content_type!r})."
                )
            declared = header(scope, b"content-length")
            expected = int(declared) if declared is not None and declared.isdigit() else 0
            if expected > self.reader.limit:
                raise self.reader.too_large()
            body = await self.reader.read(receive)
            if body:
                _check_json(body)
        except BeiError as err:
            await body_error_response(err)(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)


def _check_json(body: bytes) -> None:
    """orjson is strict where json is not: invalid UTF-8 and lone surrogates are errors."""
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError(
            f"The request body is not valid JSON: {exc}.",
            hint="Send UTF-8 JSON; a \\uD800-\\uDFFF escape must be half of a surrogate pair.",
        ) from None


def replay(body: bytes, receive: Receive) -> Receive:
    """The body in one message, then the real channel (so a disconnect is still seen)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
