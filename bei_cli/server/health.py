"""GET /health, /info and /metrics.

/health and /metrics are open (load balancers and Prometheus carry no key); /info sits behind the
API key like TEI's.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from bei_cli import __version__
from bei_cli.errors import NotReadyError
from bei_cli.server.errors import ErrorEnvelope, error_response
from bei_cli.server.metrics import CONTENT_TYPE
from bei_cli.server.responses import OrjsonResponse
from bei_cli.server.state import ServerState

open_router = APIRouter(tags=["Health"])
info_router = APIRouter(tags=["Health"])


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


class Health(BaseModel):
    status: Literal["ok"] = "ok"


@open_router.get(
    "/health",
    response_model=Health,
    responses={200: {"description": "Ready"}, 503: {"model": ErrorEnvelope}},
)
async def health(request: Request) -> Response:
    """200 `{"status": "ok"}` when the model is ready; 503 while starting or shutting down."""
    if server_state(request).healthy:
        return OrjsonResponse({"status": "ok"})
    return error_response(NotReadyError("The model is not ready (starting or shutting down)."))


@open_router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(server_state(request).metrics.render(), media_type=CONTENT_TYPE)


def model_type(state: ServerState) -> dict[str, Any]:
    """TEI's `model_type`: {embedding: {pooling}} or {classifier|reranker: {id2label, label2id}}."""
    profile = state.profile
    if profile.task == "embed":
        return {"embedding": {"pooling": profile.pooling}}
    if profile.task == "sparse_embed":  # as TEI reports a SPLADE model
        return {"embedding": {"pooling": "splade"}}
    id2label = {str(i): label for i, label in profile.id2label}
    labels = {"id2label": id2label, "label2id": {label: int(i) for i, label in id2label.items()}}
    kind = {"classify": "classifier", "rerank": "reranker", "ner": "token_classifier"}
    return {kind[profile.task]: labels}


def info_body(state: ServerState) -> dict[str, Any]:
    settings, info = state.settings, state.engine_info
    return {
        # TEI's Info fields
        "model_id": settings.served_model_name,
        "model_sha": None,
        "model_dtype": info.dtype,
        "served_model_name": settings.served_model_name,
        "model_type": model_type(state),
        "max_concurrent_requests": settings.max_concurrent_requests,
        "max_input_length": state.tokenizer.max_seq_len,
        "max_batch_tokens": info.max_batch_tokens,
        "max_batch_requests": info.max_batch_size,
        "max_client_batch_size": settings.max_client_batch_size,
        "auto_truncate": settings.auto_truncate,
        "tokenization_workers": settings.tokenization_workers,
        "version": __version__,
        "sha": None,
        "docker_label": None,
        # bei's own
        "engine": info.name,
        "device": info.device,
        "task": info.task,
        "embedding_dim": info.embedding_dim,
        "architecture": state.profile.architecture,
        "prompts": sorted(name for name, _ in state.profile.prompts),
        "default_prompt_name": state.profile.default_prompt_name,
    }


@info_router.get("/info")
async def model_info(request: Request) -> Response:
    """Model and server limits, TEI's `/info` fields plus bei's engine details."""
    return OrjsonResponse(info_body(server_state(request)))
