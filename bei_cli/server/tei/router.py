"""Routes of the TEI family: parse, hand to the serving object on app.state, reply."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from bei_cli.server.admission import unless_disconnected
from bei_cli.server.embedding import timing_headers
from bei_cli.server.errors import ERROR_RESPONSES
from bei_cli.server.responses import OrjsonResponse
from bei_cli.server.tei.protocol import EmbedAllRequest, EmbedRequest, SimilarityRequest
from bei_cli.server.tei.serving import TeiEmbed

router = APIRouter(tags=["TEI"])


def serving(request: Request) -> TeiEmbed:
    embed: TeiEmbed = request.app.state.tei_embed
    return embed


@router.post("/embed", response_model=list[list[float]], responses=ERROR_RESPONSES)
async def embed(body: EmbedRequest, request: Request) -> Response:
    """Embed texts or token ids; the reply is a bare list of vectors, one per input."""
    started = time.perf_counter()
    result = await unless_disconnected(request, serving(request).embed(body))
    return OrjsonResponse(result.vectors, headers=timing_headers(result, started))


@router.post("/embed_all", response_model=list[list[list[float]]], responses=ERROR_RESPONSES)
async def embed_all(body: EmbedAllRequest, request: Request) -> Response:
    """Every token's vector (the model's last hidden state, not pooled): one list of
    `[tokens][hidden_size]` per input."""
    started = time.perf_counter()
    result = await unless_disconnected(request, serving(request).embed_all(body))
    return OrjsonResponse(result.vectors, headers=timing_headers(result, started))


@router.post("/similarity", response_model=list[float], responses=ERROR_RESPONSES)
async def similarity(body: SimilarityRequest, request: Request) -> Response:
    """Cosine similarity of `source_sentence` with each of `sentences`, in order."""
    started = time.perf_counter()
    scores, result = await unless_disconnected(request, serving(request).similarity(body))
    return OrjsonResponse(scores, headers=timing_headers(result, started))
