"""Transport middlewares (pure ASGI), each optional to the client and invisible to the routes:

- RequestId: the client's `x-request-id` is echoed on the reply (a fresh one is made when absent),
  so a client's logs and the server's line up;
- ContentNegotiation: MessagePack replies when `Accept` ranks `application/msgpack` at least as
  high as JSON (the performance client sends `application/json, application/msgpack`);
- ResponseCompression: zstd or gzip bodies when `Accept-Encoding` asks (zstd first on a tie),
  for bodies of at least MIN_COMPRESS_BYTES.
"""

from __future__ import annotations

import gzip
import itertools
import uuid

import zstandard
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bei_cli.server.responses import JSON, MSGPACK, REPLY_FORMAT

REQUEST_ID = b"x-request-id"
MAX_REQUEST_ID = 200
# Below this, compression costs more than it saves (one TCP segment either way).
MIN_COMPRESS_BYTES = 1024
GZIP_LEVEL = 5
ZSTD_LEVEL = 3
_ZSTD = zstandard.ZstdCompressor(level=ZSTD_LEVEL)


def header(scope: Scope, name: bytes) -> str | None:
    """The first `name` header of the request (`name` lower-case), or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def quality(accept: str) -> dict[str, float]:
    """`a/b;q=0.5, c/d` -> {"a/b": 0.5, "c/d": 1.0} (lower-cased; bad q values read as 0)."""
    ranks: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranks[media.lower()] = q
    return ranks


def prefers_msgpack(accept: str) -> bool:
    ranks = quality(accept)
    packed = max(ranks.get(MSGPACK, 0.0), ranks.get("application/x-msgpack", 0.0))
    return packed > 0 and packed >= ranks.get(JSON, ranks.get("application/*", 0.0))


_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count()


def next_request_id() -> str:
    """Unique across processes and restarts (a random per-process prefix and a counter) without
    a getrandom() call per request."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = header(scope, REQUEST_ID) or ""
        request_id = given if 0 < len(given) <= MAX_REQUEST_ID else next_request_id()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


class ContentNegotiation:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        packed = prefers_msgpack(header(scope, b"accept") or "")
        token = REPLY_FORMAT.set(MSGPACK if packed else JSON)
        try:
            await self.app(scope, receive, send)
        finally:
            REPLY_FORMAT.reset(token)


def encoding_for(accept_encoding: str) -> str | None:
    ranks = quality(accept_encoding)
    wildcard = ranks.get("*", 0.0)
    zstd, gz = ranks.get("zstd", wildcard), ranks.get("gzip", wildcard)
    if max(zstd, gz) <= 0:
        return None
    return "zstd" if zstd >= gz else "gzip"


def compress(body: bytes, encoding: str) -> bytes:
    if encoding == "zstd":
        return bytes(_ZSTD.compress(body))
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)


class ResponseCompression:
    """Buffers a reply (bei's replies are single bodies), then compresses it when worth it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        encoding = encoding_for(header(scope, b"accept-encoding") or "")
        if scope["type"] != "http" or encoding is None:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_compressed(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await send_compressed_reply(send, start, b"".join(chunks), encoding)

        await self.app(scope, receive, send_compressed)


async def send_compressed_reply(send: Send, start: Message, body: bytes, encoding: str) -> None:
    """`start` and one body message, the body compressed when it is worth it."""
    headers = MutableHeaders(scope=start)
    if len(body) >= MIN_COMPRESS_BYTES and "content-encoding" not in headers:
        body = compress(body, encoding)
        headers["content-encoding"] = encoding
        headers["content-length"] = str(len(body))
        headers.add_vary_header("Accept-Encoding")
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
