"""Pure ASGI middlewares (no BaseHTTPMiddleware: it costs a task per request).

Outermost first, as `app.py` stacks them:
- RequestMetrics: count every answer by route template and status, time it;
- ErrorGuard: a bug anywhere below becomes a logged 500 envelope, never a dropped connection;
- RequestBodyGuard: 413 for bodies over the limit, 415 for non-JSON bodies, 400 for bodies that
  are not valid UTF-8 JSON -- lone surrogates (`"\\ud800"`) included, which Python's json module
  would let through to fail deep inside the tokenizer -- before any route parses them.
"""

from __future__ import annotations

import time

import orjson
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bei_cli.errors import (
    BeiError,
    MalformedRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from bei_cli.server.errors import error_response, internal_error_response
from bei_cli.server.metrics import ServerMetrics

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

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
            self.metrics.requests.labels(label, str(status)).inc()
            self.metrics.request_duration.labels(label).observe(time.perf_counter() - started)


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


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and "+json" in media)


class RequestBodyGuard:
    """Reads the whole body (up to the limit) before the app sees it, then replays it."""

    def __init__(self, app: ASGIApp, limit_bytes: int) -> None:
        self.app = app
        self.limit = limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        try:
            content_type = _header(scope, b"content-type")
            if content_type is not None and not _is_json(content_type):
                raise UnsupportedMediaTypeError(
                    f"Send the body as JSON with Content-Type: application/json "
                    f"(got {content_type!r})."
                )
            declared = _header(scope, b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.limit:
                raise self._too_large()
            body = await self._read_body(receive)
            if body:
                _check_json(body)
        except BeiError as err:
            await error_response(err)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _too_large(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"The request body is larger than the server's limit of {self.limit} bytes.",
            hint="Send fewer or shorter inputs per request.",
        )


def _check_json(body: bytes) -> None:
    """orjson is strict where json is not: invalid UTF-8 and lone surrogates are errors."""
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError(
            f"The request body is not valid JSON: {exc}.",
            hint="Send UTF-8 JSON; a \\uD800-\\uDFFF escape must be half of a surrogate pair.",
        ) from None


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body in one message, then the real channel (so a disconnect is still seen)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
