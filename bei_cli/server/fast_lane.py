"""FastLane: the embedding routes' common requests, answered without the framework around them.

A 5-token embedding request costs the event loop ~0.5 ms through Starlette and FastAPI (about
a dozen ASGI layers, routing, dependency solving) -- more than the engine's share of it, so the
front-end capped served throughput (docs/benchmarks.md, issue 11). The lane sits inside
RequestMetrics / RequestId (and tracing), before everything else, and takes a request only when
nothing but the route itself has anything to decide:

- `POST /v1/embeddings`, `/embeddings` (OpenAI) or `/embed` (TEI), exactly that path;
- a JSON Content-Type, no Content-Encoding, a Content-Length within the payload limit;
- CORS off (CORSMiddleware adds `Vary: Origin` to every reply); an API key, when one is set,
  that passes;
- a body that parses (orjson, as RequestBodyGuard checks it) and validates against the route's
  own request model (the same pydantic class, so the same rules).

Everything else -- and any request the lane declines after reading its body, which it then
replays -- goes to the full app, which answers it as before: the lane never renders a
validation error of its own. What it does answer goes through the same serving objects, reply
builders, error envelopes, deadline headers, disconnect handling and compression as the routes
(tests/unit/server/test_fast_lane.py compares both paths reply by reply).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bei_cli.errors import BeiError
from bei_cli.server.admission import (
    DEADLINE_HEADER,
    TIMEOUT_HEADER,
    deadline_from_headers,
    request_deadline,
    unless_client_leaves,
)
from bei_cli.server.auth import ApiKeyAuth
from bei_cli.server.embedding import timing_headers
from bei_cli.server.errors import (
    CLIENT_CLOSED_STATUS,
    ClientDisconnectedError,
    error_response,
    internal_error_response,
)
from bei_cli.server.middleware import BodyReader, body_error_response, is_json, replay
from bei_cli.server.openai.protocol import EmbeddingRequest
from bei_cli.server.openai.serving import OpenAIEmbeddings
from bei_cli.server.responses import JSON, MSGPACK, REPLY_FORMAT, OrjsonResponse
from bei_cli.server.tei.protocol import EmbedRequest
from bei_cli.server.tei.serving import TeiEmbed
from bei_cli.server.transport import encoding_for, prefers_msgpack, send_compressed_reply

log = logging.getLogger(__name__)

# The request headers the lane reads; one pass over the header list collects them.
CONTENT_TYPE, CONTENT_LENGTH = b"content-type", b"content-length"
CONTENT_ENCODING = b"content-encoding"
AUTHORIZATION = b"authorization"
ACCEPT, ACCEPT_ENCODING = b"accept", b"accept-encoding"
TIMEOUT, DEADLINE = TIMEOUT_HEADER.encode(), DEADLINE_HEADER.encode()
WANTED = frozenset(
    {
        CONTENT_TYPE,
        CONTENT_LENGTH,
        CONTENT_ENCODING,
        AUTHORIZATION,
        ACCEPT,
        ACCEPT_ENCODING,
        TIMEOUT,
        DEADLINE,
    }
)

Serve = Callable[[Any, float], Awaitable[Response]]


@dataclass(frozen=True)
class LaneRoute:
    model: type[BaseModel]  # the route's own request model
    serve: Serve  # (validated request, started) -> the route's reply
    route: BaseRoute  # the app's route of this path: metrics and traces label by its template


def openai_route(embeddings: OpenAIEmbeddings, route: BaseRoute) -> LaneRoute:
    async def serve(request: EmbeddingRequest, started: float) -> Response:
        reply, result = await embeddings.create(request)
        return OrjsonResponse(reply, headers=timing_headers(result, started))

    return LaneRoute(EmbeddingRequest, serve, route)


def tei_route(embed: TeiEmbed, route: BaseRoute) -> LaneRoute:
    async def serve(request: EmbedRequest, started: float) -> Response:
        result = await embed.embed(request)
        return OrjsonResponse(result.vectors, headers=timing_headers(result, started))

    return LaneRoute(EmbedRequest, serve, route)


@dataclass
class LaneStats:
    """How many requests the lane answered and how many it read and handed on (app.state)."""

    served: int = 0
    declined: int = 0


def post_route(routes: Iterable[BaseRoute], path: str) -> BaseRoute:
    for route in routes:
        if getattr(route, "path", None) == path and "POST" in (getattr(route, "methods", ()) or ()):
            return route
    raise LookupError(f"no POST {path} route")  # a wiring bug: app.py mounts them all


class FastLane:
    def __init__(
        self,
        app: ASGIApp,
        routes: dict[str, LaneRoute],
        reader: BodyReader,
        auth: ApiKeyAuth,
        cors: bool,
        stats: LaneStats,
    ) -> None:
        self.app = app
        self.routes = routes
        self.reader = reader
        self.auth = auth
        self.cors = cors
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if lane is None or scope["method"] != "POST" or self.cors:
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, str] = {}
        for key, value in scope["headers"]:
            if key in WANTED and key not in headers:  # the first of repeated headers, as routes
                headers[key] = value.decode("latin-1")
        if not self._takes(headers):
            await self.app(scope, receive, send)
            return
        encoding = encoding_for(headers.get(ACCEPT_ENCODING, ""))
        try:
            body = await self.reader.read(receive)
        except BeiError as err:
            await _send(body_error_response(err), encoding, send)
            return
        request = _validated(lane.model, body)
        if request is None:
            self.stats.declined += 1
            await self.app(scope, replay(body, receive), send)
            return
        self.stats.served += 1
        scope["route"] = lane.route
        packed = prefers_msgpack(headers.get(ACCEPT, ""))
        reply_format = REPLY_FORMAT.set(MSGPACK if packed else JSON)
        try:
            response = await self._answer(lane, request, headers, receive)
        finally:
            REPLY_FORMAT.reset(reply_format)
        await _send(response, encoding, send)

    def _takes(self, headers: dict[bytes, str]) -> bool:
        content_type = headers.get(CONTENT_TYPE)
        if content_type is None or not is_json(content_type) or CONTENT_ENCODING in headers:
            return False
        declared = headers.get(CONTENT_LENGTH, "")
        if not declared.isdigit() or int(declared) > self.reader.limit:
            return False  # chunked, malformed or too large: RequestBodyGuard answers
        if self.auth.required:
            try:
                self.auth.check(headers.get(AUTHORIZATION, ""))
            except BeiError:
                return False  # the routes' dependency answers 401
        return True

    async def _answer(
        self, lane: LaneRoute, request: Any, headers: dict[bytes, str], receive: Receive
    ) -> Response:
        """The route's reply, or the envelope its exception handlers would have written."""
        try:
            deadline = deadline_from_headers(
                headers.get(TIMEOUT),
                headers.get(DEADLINE),
                wall_now=time.time(),
                monotonic_now=time.monotonic(),
            )
        except BeiError as err:  # a malformed deadline header: read_deadline's 400
            return error_response(err)
        token = request_deadline.set(deadline)
        try:
            started = time.perf_counter()
            return await unless_client_leaves(receive, lane.serve(request, started))
        except ClientDisconnectedError:
            return Response(status_code=CLIENT_CLOSED_STATUS)
        except BeiError as err:
            if err.http_status >= 500:
                log.warning("%s: %s", type(err).__name__, err.message)
            return error_response(err)
        except Exception as exc:
            return internal_error_response(exc)
        finally:
            request_deadline.reset(token)


def _validated(model: type[BaseModel], body: bytes) -> BaseModel | None:
    """The request as the route would parse it; None: the full app must answer (an error)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    try:
        return model.model_validate(parsed)
    except ValidationError:
        return None


async def _send(response: Response, encoding: str | None, send: Send) -> None:
    start: Message = {
        "type": "http.response.start",
        "status": response.status_code,
        "headers": response.raw_headers,
    }
    if encoding is None:
        await send(start)
        await send({"type": "http.response.body", "body": response.body, "more_body": False})
        return
    await send_compressed_reply(send, start, bytes(response.body), encoding)
