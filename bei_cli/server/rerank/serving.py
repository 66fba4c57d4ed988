"""Reranking: (query, text) pairs -> ScoringService -> sigmoid (unless raw) -> sorted results.

Each text is its own pair in the batcher, as in TEI; results are sorted by score, best first,
with 0-based indices into the request's texts (the performance client offsets them per chunk).
"""

from __future__ import annotations

import uuid
from typing import Any, cast

import numpy as np

from bei_cli.engine.postprocess import activate
from bei_cli.errors import EmptyInputError
from bei_cli.server.rerank.protocol import (
    CohereRerankRequest,
    CohereV2RerankRequest,
    DocumentObject,
    RerankRequest,
)
from bei_cli.server.scoring import ScoreRows, ScoringService, Truncation, check_count
from bei_cli.server.tokenizer import Direction

TEI_ROUTE = "/rerank"
COHERE_ROUTE = "/v1/rerank"
COHERE_V2_ROUTE = "/v2/rerank"


class Reranker:
    def __init__(
        self,
        service: ScoringService,
        *,
        served_model_name: str,
        auto_truncate: bool,
        max_client_batch_size: int,
    ) -> None:
        self.service = service
        self.served_model_name = served_model_name
        self.auto_truncate = auto_truncate
        self.max_client_batch_size = max_client_batch_size

    async def ranked(
        self, query: str, texts: list[str], truncation: Truncation, *, raw: bool, param: str
    ) -> tuple[list[tuple[int, float]], ScoreRows]:
        """(index, score) of every text, best first (ties keep request order)."""
        if not query:
            raise EmptyInputError("`query` cannot be empty.", param="query")
        check_count(len(texts), param=param, max_items=self.max_client_batch_size)
        result = await self.service.score([(query, text) for text in texts], truncation, param)
        # Cross-encoder scores are sigmoid probabilities unless raw (TEI, BEI and
        # sentence-transformers' CrossEncoder), whatever problem_type the checkpoint saved:
        # one-label models trained with transformers' Trainer often say "regression".
        logits = np.stack(result.rows)
        scores = activate(logits, problem_type=None, raw=raw)[:, 0]
        order = sorted(range(len(texts)), key=lambda i: -float(scores[i]))
        return [(i, float(scores[i])) for i in order], result

    async def rerank(self, request: RerankRequest) -> tuple[list[dict[str, Any]], ScoreRows]:
        """TEI's /rerank: a bare list of {index, score, text?}; `text` only with return_text."""
        self.service.require(TEI_ROUTE)
        truncation = Truncation(
            truncate=self.auto_truncate if request.truncate is None else request.truncate,
            direction=cast(Direction, request.truncation_direction.lower()),
        )
        ranked, result = await self.ranked(
            request.query, request.texts, truncation, raw=request.raw_scores, param="texts"
        )
        body = [
            {"index": i, "score": score, "text": request.texts[i]}
            if request.return_text
            else {"index": i, "score": score}
            for i, score in ranked
        ]
        return body, result

    async def rerank_v1(self, request: CohereRerankRequest) -> tuple[dict[str, Any], ScoreRows]:
        """Cohere/Jina /v1/rerank: {id, model, usage, results} cut to top_n."""
        self.service.require(COHERE_ROUTE)
        texts = [d.text if isinstance(d, DocumentObject) else d for d in request.documents]
        ranked, result = await self.ranked(
            request.query,
            texts,
            Truncation(truncate=self.auto_truncate),
            raw=request.raw_scores,
            param="documents",
        )
        if request.top_n:
            ranked = ranked[: request.top_n]
        results = [
            {"index": i, "relevance_score": score, "document": {"text": texts[i]}}
            if request.return_documents
            else {"index": i, "relevance_score": score}
            for i, score in ranked
        ]
        body = {
            "id": f"rerank-{uuid.uuid4().hex}",
            "model": self.served_model_name,
            "usage": {"total_tokens": sum(result.token_counts)},
            "results": results,
        }
        return body, result

    async def rerank_v2(self, request: CohereV2RerankRequest) -> tuple[dict[str, Any], ScoreRows]:
        """Cohere v2: {id, results: [{index, relevance_score}], meta} cut to top_n."""
        self.service.require(COHERE_V2_ROUTE)
        ranked, result = await self.ranked(
            request.query,
            request.documents,
            Truncation(truncate=self.auto_truncate),
            raw=False,
            param="documents",
        )
        if request.top_n:
            ranked = ranked[: request.top_n]
        body = {
            "id": f"rerank-{uuid.uuid4().hex}",
            "results": [{"index": i, "relevance_score": score} for i, score in ranked],
            "meta": {
                "api_version": {"version": "2"},
                "billed_units": {"input_tokens": sum(result.token_counts)},
            },
        }
        return body, result
