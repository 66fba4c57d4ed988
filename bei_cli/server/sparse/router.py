"""The /embed_sparse route: parse, hand to the SparseEmbed on app.state, reply."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from bei_cli.server.admission import unless_disconnected
from bei_cli.server.embedding import timing_headers
from bei_cli.server.errors import ERROR_RESPONSES
from bei_cli.server.responses import OrjsonResponse
from bei_cli.server.sparse.protocol import EmbedSparseRequest, SparseValue
from bei_cli.server.sparse.serving import SparseEmbed

router = APIRouter(tags=["TEI"])


def serving(request: Request) -> SparseEmbed:
    sparse: SparseEmbed = request.app.state.sparse_embed
    return sparse


@router.post("/embed_sparse", response_model=list[list[SparseValue]], responses=ERROR_RESPONSES)
async def embed_sparse(body: EmbedSparseRequest, request: Request) -> Response:
    """SPLADE weights of each input: a list (one per input) of {index, value} non-zeros."""
    started = time.perf_counter()
    result = await unless_disconnected(request, serving(request).embed_sparse(body))
    return OrjsonResponse(result.vectors, headers=timing_headers(result, started))
