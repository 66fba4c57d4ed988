"""Route of the NER family: parse, hand to the serving object on app.state, reply."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from bei_cli.server.admission import unless_disconnected
from bei_cli.server.embedding import timing_headers
from bei_cli.server.errors import ERROR_RESPONSES
from bei_cli.server.ner.protocol import PredictTokensRequest, TokenResult
from bei_cli.server.ner.serving import TokenClassifier
from bei_cli.server.responses import OrjsonResponse

router = APIRouter(tags=["NER"])


def serving(request: Request) -> TokenClassifier:
    classifier: TokenClassifier = request.app.state.token_classifier
    return classifier


@router.post("/predict_tokens", response_model=list[list[TokenResult]], responses=ERROR_RESPONSES)
async def predict_tokens(body: PredictTokensRequest, request: Request) -> Response:
    """Label each text's tokens (or aggregated entities); one list per text."""
    started = time.perf_counter()
    reply, result = await unless_disconnected(request, serving(request).predict_tokens(body))
    return OrjsonResponse(reply, headers=timing_headers(result, started))
