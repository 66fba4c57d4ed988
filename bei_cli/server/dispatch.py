"""Where a request goes before routing: a trailing slash is dropped (served, never redirected --
a redirect would be built from the client's Host header), and `POST /` is sent to the route of the
model's task that the body's shape belongs to, so clients that post everything to the root URL
(Hugging Face's InferenceClient, TEI-style callers, OpenAI-style callers) all work against it.

`POST /v1/models/model:predict` (Truss) always goes to the configured default route, as Truss
does; so does a `POST /` body that matches no shape (the default route then names what is wrong).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bei_cli.inspect.profile import Task

TRUSS_PREDICT_ROUTE = "/v1/models/model:predict"
Shape = Callable[[dict[str, Any]], bool]


def _has(key: str) -> Shape:
    return lambda body: key in body


def _hf_task(body: dict[str, Any]) -> bool:
    """Hugging Face's Inference API form: `inputs` plus a `parameters` object."""
    return "inputs" in body and isinstance(body.get("parameters"), dict)


def _similarity(body: dict[str, Any]) -> bool:
    return isinstance(body.get("inputs"), dict)


# task -> (shape, route) in order; the first shape the body has wins. A task without shapes
# sends every `POST /` to the default route.
ROOT_SHAPES: dict[Task, tuple[tuple[Shape, str], ...]] = {
    "embed": (
        (_has("input"), "/v1/embeddings"),
        (_has("texts"), "/v2/embed"),
        (_similarity, "/similarity"),
        (_has("inputs"), "/embed"),
    ),
    "rerank": (
        (_has("texts"), "/rerank"),
        (_has("documents"), "/v1/rerank"),
        (_hf_task, "/hf/text-classification"),
        (_has("inputs"), "/predict"),
    ),
    "classify": (
        (_hf_task, "/hf/text-classification"),
        (_has("inputs"), "/predict"),
    ),
    "ner": (
        (_hf_task, "/hf/token-classification"),
        (_has("inputs"), "/predict_tokens"),
    ),
}


def root_route(task: Task, body: bytes, default_route: str) -> str:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return default_route  # the route answers the 400
    if isinstance(parsed, dict):
        for shape, route in ROOT_SHAPES.get(task, ()):
            if shape(parsed):
                return route
    return default_route


def _rewrite(scope: Scope, path: str) -> None:
    # In place, so outer middlewares (metrics) see the route that answered.
    scope["path"] = path
    scope["raw_path"] = path.encode()


class RootDispatch:
    def __init__(self, app: ASGIApp, task: Task, default_route: str) -> None:
        self.app = app
        self.task = task
        self.default_route = default_route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            _rewrite(scope, path.rstrip("/") or "/")
        if scope["method"] == "POST" and scope["path"] == TRUSS_PREDICT_ROUTE:
            _rewrite(scope, self.default_route)
        elif scope["method"] == "POST" and scope["path"] == "/":
            # RequestBodyGuard (outside) has read the whole body: this is one message.
            message = await receive()
            body = message.get("body", b"")
            _rewrite(scope, root_route(self.task, body, self.default_route))
            receive = _replay(message, receive)
        await self.app(scope, receive, send)


def _replay(first: Message, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return first
        return await receive()

    return replay
