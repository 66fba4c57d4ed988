"""BEI /predict_tokens: texts -> ScoringService (per-token logits) -> entities per text.

Scores are softmax probabilities (transformers' pipeline always uses softmax here) unless
raw_scores; aggregation is `ner.aggregation` over the same scores, so entity spans and labels
are the pipeline's. `token` is the text's own span, as BEI answers ("Apple" from an uncased model).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from bei_cli.engine.postprocess import softmax
from bei_cli.errors import InvalidRequestError
from bei_cli.server.hf.protocol import TokenClassificationRequest
from bei_cli.server.ner.aggregation import (
    IGNORED_LABELS,
    STRATEGIES,
    Entity,
    Strategy,
    aggregate,
    token_scores,
)
from bei_cli.server.ner.protocol import PredictTokensRequest, TokensInput
from bei_cli.server.scoring import ScoreRows, ScoringService, Truncation, check_count
from bei_cli.server.tokenizer import Direction

ROUTE = "/predict_tokens"
HF_ROUTE = "/hf/token-classification"
# The Hugging Face Inference API's default (transformers' pipeline itself defaults to none).
HF_DEFAULT_STRATEGY: Strategy = "simple"
PARAM = "inputs"


def flat_texts(inputs: TokensInput, *, max_items: int) -> list[str]:
    """The texts in order. Each list level may hold up to `max_items` (what the OpenAPI document
    can state); the flattened total is bounded by the body size and the queue (429)."""
    if isinstance(inputs, str):
        return [inputs]
    check_count(len(inputs), param=PARAM, max_items=max_items)
    for item in inputs:
        if not isinstance(item, str):
            check_count(len(item), param=PARAM, max_items=max_items)
    return _flatten(inputs)


def _flatten(inputs: TokensInput) -> list[str]:
    if isinstance(inputs, str):
        return [inputs]
    return [text for item in inputs for text in ([item] if isinstance(item, str) else item)]


def strategy_of(name: str) -> Strategy:
    if name.lower() not in STRATEGIES:
        raise InvalidRequestError(
            f"Unknown aggregation_strategy {name!r}. Allowed: {', '.join(STRATEGIES)}.",
            param="aggregation_strategy",
        )
    return cast(Strategy, name.lower())


class TokenClassifier:
    def __init__(
        self,
        service: ScoringService,
        *,
        labels: tuple[str, ...],
        auto_truncate: bool,
        max_client_batch_size: int,
    ) -> None:
        self.service = service
        self.labels = labels
        self.auto_truncate = auto_truncate
        self.max_client_batch_size = max_client_batch_size

    async def entities(
        self,
        texts: list[str],
        strategy: Strategy,
        truncation: Truncation,
        *,
        raw: bool,
        ignored: tuple[str, ...] = IGNORED_LABELS,
    ) -> tuple[list[list[Entity]], ScoreRows]:
        """Each text's entities, as transformers' token-classification pipeline finds them."""
        result, spans = await self.service.score_tokens(texts, truncation, PARAM)
        tokenizer = self.service.tokenizer
        answers = []
        for text, text_spans, logits in zip(texts, spans, result.rows, strict=True):
            scores = logits if raw else softmax(logits)
            tokens = token_scores(
                text,
                text_spans,
                np.asarray(scores, dtype=np.float32),
                subword_prefix=tokenizer.subword_prefix,
                unk_id=tokenizer.unk_id,
            )
            answers.append(aggregate(tokens, self.labels, strategy, tokenizer.join_tokens, ignored))
        return answers, result

    async def predict_tokens(
        self, request: PredictTokensRequest
    ) -> tuple[list[list[dict[str, Any]]], ScoreRows]:
        self.service.require(ROUTE)
        texts = flat_texts(request.inputs, max_items=self.max_client_batch_size)
        truncation = Truncation(
            truncate=self.auto_truncate if request.truncate is None else request.truncate,
            direction=cast(Direction, request.truncation_direction.lower()),
        )
        strategy = strategy_of(request.aggregation_strategy)
        found, result = await self.entities(texts, strategy, truncation, raw=request.raw_scores)
        answers = [
            [self._result(text, e, request.raw_scores) for e in entities]
            for text, entities in zip(texts, found, strict=True)
        ]
        return answers, result

    async def hf_token_classification(
        self, request: TokenClassificationRequest
    ) -> tuple[list[Any], ScoreRows]:
        """Hugging Face's token-classification shape: one entity list for a text, a list of
        them for a list of texts."""
        self.service.require(HF_ROUTE)
        params = request.parameters
        texts = [request.inputs] if isinstance(request.inputs, str) else request.inputs
        check_count(len(texts), param=PARAM, max_items=self.max_client_batch_size)
        strategy = params.aggregation_strategy or HF_DEFAULT_STRATEGY
        ignored = IGNORED_LABELS if params.ignore_labels is None else tuple(params.ignore_labels)
        truncation = Truncation(truncate=self.auto_truncate)
        found, result = await self.entities(texts, strategy, truncation, raw=False, ignored=ignored)
        key = "entity" if strategy == "none" else "entity_group"
        answers = [
            [
                {key: e.label, "score": e.score, "word": e.word, "start": e.start, "end": e.end}
                for e in entities
            ]
            for entities in found
        ]
        return (answers[0] if isinstance(request.inputs, str) else answers), result

    def _result(self, text: str, entity: Entity, raw: bool) -> dict[str, Any]:
        row = entity.scores
        if raw and row is not None:
            order = sorted(range(len(self.labels)), key=lambda j: -float(row[j]))
            results = {self.labels[j]: float(row[j]) for j in order}
        else:
            results = {entity.label: entity.score}
        return {
            "token": text[entity.start : entity.end],
            "token_id": entity.token_id,
            "start": entity.start,
            "end": entity.end,
            "results": results,
        }
