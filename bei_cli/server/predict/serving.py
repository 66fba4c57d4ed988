"""TEI /predict: inputs -> single texts or pairs -> ScoringService -> labelled scores.

Scores are activated as transformers' text-classification pipeline does (softmax over labels;
sigmoid for one label or multi-label models; logits for regression or raw_scores) and sorted
best first. The reply mirrors the request: a batch gives a list of lists, a text or a pair one list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np

from bei_cli.engine.base import FloatArray
from bei_cli.engine.postprocess import activate, sigmoid, softmax
from bei_cli.errors import EmptyInputError, InvalidRequestError
from bei_cli.server.hf.protocol import TextClassificationRequest
from bei_cli.server.predict.protocol import PredictInput, PredictRequest
from bei_cli.server.scoring import ScoreRows, ScoringService, TextPair, Truncation, check_count
from bei_cli.server.tokenizer import Direction

ROUTE = "/predict"
HF_ROUTE = "/hf/text-classification"
HF_ACTIVATIONS: dict[str, Callable[[FloatArray], FloatArray]] = {
    "sigmoid": sigmoid,
    "softmax": softmax,
    "none": lambda logits: np.asarray(logits, dtype=np.float32),
}
PARAM = "inputs"


def _item(texts: list[str], where: str) -> TextPair:
    if len(texts) not in (1, 2):
        raise InvalidRequestError(
            f"{where} has {len(texts)} texts; each input is one text or a pair of two.",
            param=PARAM,
        )
    if not all(texts):
        raise EmptyInputError(f"{where} contains an empty text.", param=PARAM)
    return (texts[0], texts[1] if len(texts) == 2 else None)


def predict_items(inputs: PredictInput, *, max_items: int) -> tuple[list[TextPair], bool]:
    """The wire union as (items, is_batch). A list of two strings is a pair (TEI's rule)."""
    if isinstance(inputs, str):
        return [_item([inputs], "`inputs`")], False
    if inputs and all(isinstance(text, str) for text in inputs):
        return [_item(cast(list[str], inputs), "`inputs`")], False
    check_count(len(inputs), param=PARAM, max_items=max_items)
    batch = cast(list[list[str]], inputs)
    return [_item(texts, f"`inputs[{i}]`") for i, texts in enumerate(batch)], True


class Classifier:
    def __init__(
        self,
        service: ScoringService,
        *,
        labels: tuple[str, ...],
        auto_truncate: bool,
        max_client_batch_size: int,
        problem_type: str | None,
    ) -> None:
        self.service = service
        self.labels = labels
        self.auto_truncate = auto_truncate
        self.max_client_batch_size = max_client_batch_size
        self.problem_type = problem_type

    async def predict(self, request: PredictRequest) -> tuple[list[Any], ScoreRows]:
        self.service.require(ROUTE)
        items, is_batch = predict_items(request.inputs, max_items=self.max_client_batch_size)
        truncation = Truncation(
            truncate=self.auto_truncate if request.truncate is None else request.truncate,
            direction=cast(Direction, request.truncation_direction.lower()),
        )
        result = await self.service.score(items, truncation, PARAM)
        scores = activate(
            np.stack(result.rows), problem_type=self.problem_type, raw=request.raw_scores
        )
        answers = [self._labelled(row) for row in scores]
        return (answers if is_batch else answers[0]), result

    async def hf_text_classification(
        self, request: TextClassificationRequest
    ) -> tuple[list[list[dict[str, Any]]], ScoreRows]:
        """Hugging Face's text-classification shape: one best-first list per text, nested for a
        single text too (the client reads the first list)."""
        self.service.require(HF_ROUTE)
        texts = [request.inputs] if isinstance(request.inputs, str) else request.inputs
        check_count(len(texts), param=PARAM, max_items=self.max_client_batch_size)
        items: list[TextPair] = [(text, None) for text in texts]
        result = await self.service.score(items, Truncation(truncate=self.auto_truncate), PARAM)
        logits = np.stack(result.rows)
        applied = request.parameters.function_to_apply
        if applied is None:
            scores = activate(logits, problem_type=self.problem_type, raw=False)
        else:
            scores = HF_ACTIVATIONS[applied](logits)
        top_k = request.parameters.top_k
        return [self._labelled(row)[:top_k] for row in scores], result

    def _labelled(self, row: np.ndarray) -> list[dict[str, Any]]:
        order = sorted(range(len(row)), key=lambda j: -float(row[j]))
        return [{"label": self.labels[j], "score": float(row[j])} for j in order]
