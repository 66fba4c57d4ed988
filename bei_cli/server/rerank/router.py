"""Routes of the rerank family: parse, hand to the serving object on app.state, reply."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from bei_cli.server.admission import unless_disconnected
from bei_cli.server.embedding import timing_headers
from bei_cli.server.errors import ERROR_RESPONSES
from bei_cli.server.rerank.protocol import (
    CohereRerankRequest,
    CohereRerankResponse,
    CohereV2RerankRequest,
    CohereV2RerankResponse,
    RerankRequest,
    RerankResult,
)
from bei_cli.server.rerank.serving import Reranker
from bei_cli.server.responses import OrjsonResponse

router = APIRouter(tags=["Rerank"])


def serving(request: Request) -> Reranker:
    reranker: Reranker = request.app.state.reranker
    return reranker


@router.post("/rerank", response_model=list[RerankResult], responses=ERROR_RESPONSES)
async def rerank(body: RerankRequest, request: Request) -> Response:
    """Score each text against the query; a bare list sorted by score, best first."""
    started = time.perf_counter()
    reply, result = await unless_disconnected(request, serving(request).rerank(body))
    return OrjsonResponse(reply, headers=timing_headers(result, started))


@router.post("/v1/rerank", response_model=CohereRerankResponse, responses=ERROR_RESPONSES)
async def rerank_v1(body: CohereRerankRequest, request: Request) -> Response:
    """Cohere/Jina-style rerank: results with relevance_score, best first, cut to top_n."""
    started = time.perf_counter()
    reply, result = await unless_disconnected(request, serving(request).rerank_v1(body))
    return OrjsonResponse(reply, headers=timing_headers(result, started))


@router.post("/v2/rerank", response_model=CohereV2RerankResponse, responses=ERROR_RESPONSES)
async def rerank_v2(body: CohereV2RerankRequest, request: Request) -> Response:
    """Cohere v2 rerank (`cohere.ClientV2.rerank`): {id, results, meta}, best first."""
    started = time.perf_counter()
    reply, result = await unless_disconnected(request, serving(request).rerank_v2(body))
    return OrjsonResponse(reply, headers=timing_headers(result, started))
