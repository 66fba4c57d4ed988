"""Route of the predict family: parse, hand to the serving object on app.state, reply."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from bei_cli.server.admission import unless_disconnected
from bei_cli.server.embedding import timing_headers
from bei_cli.server.errors import ERROR_RESPONSES
from bei_cli.server.predict.protocol import LabelScore, PredictRequest
from bei_cli.server.predict.serving import Classifier
from bei_cli.server.responses import OrjsonResponse

router = APIRouter(tags=["Predict"])


def serving(request: Request) -> Classifier:
    classifier: Classifier = request.app.state.classifier
    return classifier


@router.post(
    "/predict",
    response_model=list[LabelScore] | list[list[LabelScore]],
    responses=ERROR_RESPONSES,
)
async def predict(body: PredictRequest, request: Request) -> Response:
    """Classify a text, a pair or a batch; labels with scores, best first."""
    started = time.perf_counter()
    reply, result = await unless_disconnected(request, serving(request).predict(body))
    return OrjsonResponse(reply, headers=timing_headers(result, started))
