"""Which routes each task serves, and the 424 a route answers for a model it cannot serve.

TEI's rule, extended to bei's tasks: a reranker (one-label classifier) also serves /predict; a
multi-label classifier is "not a re-ranker model".
"""

from __future__ import annotations

from bei_cli.errors import UnsupportedRouteError
from bei_cli.inspect.profile import Task

ROUTES: dict[Task, tuple[str, ...]] = {
    "embed": ("/v1/embeddings", "/embeddings", "/embed", "/similarity", "/v2/embed"),
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
