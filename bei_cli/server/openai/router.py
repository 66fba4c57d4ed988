"""Routes of the OpenAI family: parse, hand to the serving object on app.state, reply."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from bei_cli.server.admission import unless_disconnected
from bei_cli.server.embedding import timing_headers
from bei_cli.server.errors import ERROR_RESPONSES
from bei_cli.server.openai.protocol import EmbeddingRequest, EmbeddingResponse, ModelList
from bei_cli.server.openai.serving import OpenAIEmbeddings
from bei_cli.server.responses import OrjsonResponse

router = APIRouter(tags=["OpenAI"])


def serving(request: Request) -> OpenAIEmbeddings:
    embeddings: OpenAIEmbeddings = request.app.state.openai_embeddings
    return embeddings


@router.post("/v1/embeddings", response_model=EmbeddingResponse, responses=ERROR_RESPONSES)
@router.post("/embeddings", response_model=EmbeddingResponse, responses=ERROR_RESPONSES)
async def create_embeddings(body: EmbeddingRequest, request: Request) -> Response:
    """Embed texts or token ids; vectors are L2-normalized."""
    started = time.perf_counter()
    reply, result = await unless_disconnected(request, serving(request).create(body))
    return OrjsonResponse(reply, headers=timing_headers(result, started))


@router.get("/v1/models", response_model=ModelList, responses=ERROR_RESPONSES)
@router.get("/models", response_model=ModelList, responses=ERROR_RESPONSES)
async def list_models(request: Request) -> Response:
    """The one model this server serves, under its served name (`openai.models.list()`)."""
    return OrjsonResponse(serving(request).models())
