"""Which routes each task serves, and the 424 a route answers for a model it cannot serve.

TEI's rule, extended to bei's tasks: a reranker (one-label classifier) also serves /predict; a
multi-label classifier is "not a re-ranker model". A few routes need more than the task: an
engine feature (`ENGINE_FEATURES`), which the engine's info states.
"""

from __future__ import annotations

from collections.abc import Callable

from bei_cli.engine.base import EngineInfo
from bei_cli.errors import UnsupportedRouteError
from bei_cli.inspect.profile import Task

ROUTES: dict[Task, tuple[str, ...]] = {
    "embed": (
        "/v1/embeddings",
        "/embeddings",
        "/embed",
        "/embed_all",
        "/similarity",
        "/v2/embed",
    ),
    "rerank": ("/rerank", "/v1/rerank", "/v2/rerank", "/predict", "/hf/text-classification"),
    "classify": ("/predict", "/hf/text-classification"),
    "ner": ("/predict_tokens", "/hf/token-classification"),
    "sparse_embed": ("/embed_sparse",),
}
# Every task-specific route; the others (/tokenize, /decode, /v1/models, ...) serve every model.
TASK_ROUTES = frozenset(route for routes in ROUTES.values() for route in routes)

MODEL_KINDS: dict[Task, str] = {
    "embed": "an embedding model",
    "rerank": "a re-ranker model",
    "classify": "a classifier model (not a re-ranker model)",
    "ner": "a token-classification (NER) model",
    "sparse_embed": "a sparse (SPLADE) embedding model",
}


# route -> (whether an engine has what the route needs, why not when it lacks it)
ENGINE_FEATURES: dict[str, tuple[Callable[[EngineInfo], bool], str]] = {
    "/embed_all": (
        lambda info: info.token_embeddings,
        "returns pooled vectors only, not per-token vectors",
    ),
}


def serves(task: Task, route: str) -> bool:
    """Whether a `task` model serves `route` (routes of no task serve every model)."""
    return route not in TASK_ROUTES or route in ROUTES[task]


def require_route(task: Task, route: str) -> None:
    """Raise UnsupportedRouteError (424) unless a `task` model serves `route`."""
    if route in ROUTES[task]:
        return
    raise UnsupportedRouteError(
        f"{route} is not served by this model: it is {MODEL_KINDS[task]}. "
        f"Routes it serves: {', '.join(ROUTES[task])}.",
        hint="Send the request to one of those routes.",
    )


def engine_has(info: EngineInfo, route: str) -> bool:
    """Whether the loaded engine has what `route` needs beyond its task (most routes: nothing)."""
    feature = ENGINE_FEATURES.get(route)
    return feature is None or feature[0](info)


def require_engine_route(info: EngineInfo, route: str) -> None:
    """require_route, then the route's engine feature: 424 when this engine lacks it."""
    require_route(info.task, route)
    if not engine_has(info, route):
        raise UnsupportedRouteError(
            f"{route} is not served by this model's {info.name} engine: it "
            f"{ENGINE_FEATURES[route][1]}.",
            hint="Build the artifact with `bei: {engine: torch}` in the config to serve it.",
        )
