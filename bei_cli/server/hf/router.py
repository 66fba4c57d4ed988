"""Routes of the Hugging Face task family: parse, hand to the serving objects on app.state,
reply. `POST /` with `{"inputs", "parameters"}` lands here (`dispatch.ROOT_SHAPES`)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from bei_cli.server.admission import unless_disconnected
from bei_cli.server.embedding import timing_headers
from bei_cli.server.errors import ERROR_RESPONSES
from bei_cli.server.hf.protocol import (
    LabelScore,
    TextClassificationRequest,
    TokenClassificationRequest,
    TokenEntity,
)
from bei_cli.server.ner.serving import TokenClassifier
from bei_cli.server.predict.serving import Classifier
from bei_cli.server.responses import OrjsonResponse

router = APIRouter(tags=["Hugging Face tasks"])


@router.post(
    "/hf/text-classification", response_model=list[list[LabelScore]], responses=ERROR_RESPONSES
)
async def text_classification(body: TextClassificationRequest, request: Request) -> Response:
    """Labels with scores, best first; one list per text (a single text gets one list too)."""
    started = time.perf_counter()
    classifier: Classifier = request.app.state.classifier
    reply, result = await unless_disconnected(request, classifier.hf_text_classification(body))
    return OrjsonResponse(reply, headers=timing_headers(result, started))


@router.post(
    "/hf/token-classification",
    response_model=list[TokenEntity] | list[list[TokenEntity]],
    responses=ERROR_RESPONSES,
)
async def token_classification(body: TokenClassificationRequest, request: Request) -> Response:
    """Entities with `entity_group` (or `entity` with strategy none), `score`, `word`, `start`
    and `end`; a list of texts gets one list per text."""
    started = time.perf_counter()
    classifier: TokenClassifier = request.app.state.token_classifier
    reply, result = await unless_disconnected(request, classifier.hf_token_classification(body))
    return OrjsonResponse(reply, headers=timing_headers(result, started))
