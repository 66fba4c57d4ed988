"""/embed_sparse: inputs -> tokenize -> batcher -> the non-zero SPLADE weights of each input.

The engine returns each input's full vocabulary-sized row (sentence-transformers'
`SparseEncoder.encode`, densified); the reply keeps the non-zeros in index order, as TEI's
`sparsify` does, or the `top_k` largest of them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from bei_cli.engine.base import FloatArray
from bei_cli.server.capabilities import require_route
from bei_cli.server.embedding import (
    EmbeddingService,
    EmbedOptions,
    input_items,
    record,
)
from bei_cli.server.sparse.protocol import EmbedSparseRequest
from bei_cli.server.tei.serving import prompt_of
from bei_cli.server.tokenizer import Direction

ROUTE = "/embed_sparse"
PARAM = "inputs"


def sparsify(row: FloatArray, top_k: int | None) -> list[dict[str, float | int]]:
    """The non-zero weights of `row` as TEI's [{"index", "value"}], in index order."""
    indices = np.flatnonzero(row > 0)
    if top_k is not None and len(indices) > top_k:
        strongest = np.argsort(-row[indices], kind="stable")[:top_k]
        indices = np.sort(indices[strongest])
    return [{"index": int(i), "value": float(row[i])} for i in indices]


@dataclass(frozen=True)
class SparseResult:
    vectors: list[list[dict[str, float | int]]]
    token_counts: list[int]
    characters: int
    tokenization_s: float
    queue_s: float
    inference_s: float


class SparseEmbed:
    def __init__(
        self,
        service: EmbeddingService,
        *,
        auto_truncate: bool,
        max_client_batch_size: int,
        prompts: dict[str, str],
        default_prompt_name: str | None,
    ) -> None:
        self.service = service
        self.auto_truncate = auto_truncate
        self.max_client_batch_size = max_client_batch_size
        self.prompts = prompts
        self.default_prompt_name = default_prompt_name

    async def embed_sparse(self, request: EmbedSparseRequest) -> SparseResult:
        service = self.service
        require_route(service.info.task, ROUTE)
        items = input_items(request.inputs, param=PARAM, max_items=self.max_client_batch_size)
        options = EmbedOptions(
            truncate=self.auto_truncate if request.truncate is None else request.truncate,
            direction=cast(Direction, request.truncation_direction.lower()),
            prompt=prompt_of(self.prompts, request.prompt_name, self.default_prompt_name),
        )
        with service.gate.admit():
            started = time.perf_counter()
            sequences = await service._tokenize(items, options, PARAM)
            tokenized = time.perf_counter()
            with service.gate.queued(sequences) as deadline:
                results = await service.batcher.run(sequences, deadline=deadline)
        result = SparseResult(
            vectors=[sparsify(r.values, request.top_k) for r in results],
            token_counts=[len(s) for s in sequences],
            characters=_characters(items),
            tokenization_s=tokenized - started,
            queue_s=sum(r.queue_s for r in results) / len(results),
            inference_s=sum(r.inference_s for r in results) / len(results),
        )
        record(service.metrics, result)
        return result


def _characters(items: Sequence[str | list[int]]) -> int:
    return sum(len(item) for item in items if isinstance(item, str))
