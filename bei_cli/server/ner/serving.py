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
from bei_cli.server.ner.aggregation import STRATEGIES, Entity, Strategy, aggregate, token_scores
from bei_cli.server.ner.protocol import PredictTokensRequest, TokensInput
from bei_cli.server.scoring import ScoreRows, ScoringService, Truncation, check_count
from bei_cli.server.tokenizer import Direction

ROUTE = "/predict_tokens"
PARAM = "inputs"


def flat_texts(inputs: TokensInput) -> list[str]:
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

    async def predict_tokens(
        self, request: PredictTokensRequest
    ) -> tuple[list[list[dict[str, Any]]], ScoreRows]:
        self.service.require(ROUTE)
        strategy = strategy_of(request.aggregation_strategy)
        texts = flat_texts(request.inputs)
        check_count(len(texts), param=PARAM, max_items=self.max_client_batch_size)
        truncation = Truncation(
            truncate=self.auto_truncate if request.truncate is None else request.truncate,
            direction=cast(Direction, request.truncation_direction.lower()),
        )
        result, spans = await self.service.score_tokens(texts, truncation, PARAM)
        tokenizer = self.service.tokenizer
        answers = []
        for text, text_spans, logits in zip(texts, spans, result.rows, strict=True):
            scores = logits if request.raw_scores else softmax(logits)
            tokens = token_scores(
                text,
                text_spans,
                np.asarray(scores, dtype=np.float32),
                subword_prefix=tokenizer.subword_prefix,
                unk_id=tokenizer.unk_id,
            )
            entities = aggregate(tokens, self.labels, strategy, tokenizer.join_tokens)
            answers.append([self._result(text, e, request.raw_scores) for e in entities])
        return answers, result

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
