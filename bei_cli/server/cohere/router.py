"""Route of the Cohere family: parse, hand to the serving object on app.state, reply."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from bei_cli.server.admission import unless_disconnected
from bei_cli.server.cohere.protocol import CohereEmbedRequest, CohereEmbedResponse
from bei_cli.server.cohere.serving import CohereEmbeddings
from bei_cli.server.embedding import timing_headers
from bei_cli.server.errors import ERROR_RESPONSES
from bei_cli.server.responses import OrjsonResponse

router = APIRouter(tags=["Cohere"])


def serving(request: Request) -> CohereEmbeddings:
    embeddings: CohereEmbeddings = request.app.state.cohere_embeddings
    return embeddings


@router.post("/v2/embed", response_model=CohereEmbedResponse, responses=ERROR_RESPONSES)
async def embed_v2(body: CohereEmbedRequest, request: Request) -> Response:
    """Cohere v2 embed: float vectors, L2-normalized, in request order."""
    started = time.perf_counter()
    reply, result = await unless_disconnected(request, serving(request).embed(body))
    return OrjsonResponse(reply, headers=timing_headers(result, started))
