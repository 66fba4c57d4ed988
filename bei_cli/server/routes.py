"""The model routes of an app, as one table: every family's router is mounted (a route of another
task answers 424 naming the right ones), but the OpenAPI document lists only the routes the loaded
model serves, with that model's limits written in (`wire.apply_limits`).

A new route family adds its router to MODEL_ROUTERS and, if it is task-specific, its paths to
`capabilities.ROUTES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.params import Depends

from bei_cli.inspect.profile import Task
from bei_cli.server.capabilities import engine_has, serves
from bei_cli.server.cohere.router import router as cohere_router
from bei_cli.server.hf.router import router as hf_router
from bei_cli.server.ner.router import router as ner_router
from bei_cli.server.openai.router import router as openai_router
from bei_cli.server.predict.router import router as predict_router
from bei_cli.server.rerank.router import router as rerank_router
from bei_cli.server.sparse.router import router as sparse_router
from bei_cli.server.tei.router import router as tei_router
from bei_cli.server.tokens.router import router as tokens_router
from bei_cli.server.wire import ModelLimits, apply_limits

MODEL_ROUTERS: tuple[APIRouter, ...] = (
    openai_router,
    tei_router,
    cohere_router,
    rerank_router,
    predict_router,
    ner_router,
    hf_router,
    tokens_router,
    sparse_router,
)


def install_model_routes(app: FastAPI, dependencies: Sequence[Depends]) -> None:
    for router in MODEL_ROUTERS:
        app.include_router(router, dependencies=list(dependencies))


def install_openapi(app: FastAPI, task: Task, limits: ModelLimits) -> None:
    """`app.openapi()` (and /openapi.json): the paths a `task` model serves -- those of its
    engine (`app.state.server.engine_info`) -- with its limits in the schemas."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            paths = document.get("paths", {})
            engine = app.state.server.engine_info
            document["paths"] = {
                path: ops
                for path, ops in paths.items()
                if serves(task, path) and engine_has(engine, path)
            }
            app.openapi_schema = apply_limits(document, limits)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
