"""The scoring request path shared by /rerank, /v1/rerank, /predict and /predict_tokens, as one
straight line: texts or pairs -> tokenize (off the event loop when large) -> batcher -> raw rows.

Rows are the engine's raw logits, one per input: (num_labels,) for classifiers and rerankers,
(tokens, num_labels) for token classifiers. Activation and the wire shapes are each route's job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bei_cli.engine.base import FloatArray
from bei_cli.errors import EmptyInputError, PayloadTooLargeError
from bei_cli.server.capabilities import require_route
from bei_cli.server.embedding import INLINE_TOKENIZE_CHARS, record
from bei_cli.server.state import EngineAccess
from bei_cli.server.tokenizer import Direction, TokenSpans

# A single text (second is None) or a (first, second) pair, e.g. (query, document).
TextPair = tuple[str, str | None]
# (token ids, token type ids) of one sequence.
Encoded = tuple[list[int], list[int]]
T = TypeVar("T")


@dataclass(frozen=True)
class ScoreRows:
    rows: list[FloatArray]  # raw logits, one row per input, in input order
    token_counts: list[int]
    characters: int
    tokenization_s: float
    queue_s: float  # mean over inputs
    inference_s: float  # mean over inputs


@dataclass(frozen=True)
class Truncation:
    truncate: bool
    direction: Direction = "right"


def check_count(count: int, *, param: str, max_items: int) -> None:
    """Refuse an empty list (400) or more items than one request may carry (413)."""
    if count == 0:
        raise EmptyInputError(f"`{param}` cannot be empty.", param=param)
    if count > max_items:
        raise PayloadTooLargeError(
            f"`{param}` has {count} items; this server accepts at most {max_items} per request.",
            hint="Split the inputs over several requests.",
            param=param,
        )


@dataclass(frozen=True)
class ScoringService(EngineAccess):
    def require(self, route: str) -> None:
        require_route(self.info.task, route)

    async def score(
        self, pairs: Sequence[TextPair], truncation: Truncation, param: str
    ) -> ScoreRows:
        """One row of label logits per single text or pair."""

        def tokenize() -> list[tuple[list[int], list[int]]]:
            return self.tokenizer.encode_pairs(
                pairs, truncate=truncation.truncate, direction=truncation.direction, param=param
            )

        characters = sum(len(a) + len(b or "") for a, b in pairs)
        rows, _ = await self._run(tokenize, _as_is, characters)
        return rows

    async def score_tokens(
        self, texts: Sequence[str], truncation: Truncation, param: str
    ) -> tuple[ScoreRows, list[TokenSpans]]:
        """One (tokens, labels) row of logits per text, with its tokens' spans."""

        def tokenize() -> list[TokenSpans]:
            return self.tokenizer.encode_spans(
                texts, truncate=truncation.truncate, direction=truncation.direction, param=param
            )

        return await self._run(tokenize, _span_ids, sum(len(text) for text in texts))

    async def _run(
        self,
        tokenize: Callable[[], T],
        sequences_of: Callable[[T], list[Encoded]],
        characters: int,
    ) -> tuple[ScoreRows, T]:
        with self.gate.admit():
            started = time.perf_counter()
            if characters <= INLINE_TOKENIZE_CHARS:
                tokenized = tokenize()
            else:
                loop = asyncio.get_running_loop()
                tokenized = await loop.run_in_executor(self.executor, tokenize)
            encoded = sequences_of(tokenized)
            tokenized_at = time.perf_counter()
            sequences = [ids for ids, _ in encoded]
            with self.gate.queued(sequences) as deadline:
                results = await self.batcher.run(
                    sequences, [types for _, types in encoded], deadline=deadline
                )
        result = ScoreRows(
            rows=[r.values for r in results],
            token_counts=[len(ids) for ids, _ in encoded],
            characters=characters,
            tokenization_s=tokenized_at - started,
            queue_s=sum(r.queue_s for r in results) / len(results),
            inference_s=sum(r.inference_s for r in results) / len(results),
        )
        record(self.metrics, result)
        return result, tokenized


def _as_is(encoded: list[Encoded]) -> list[Encoded]:
    return encoded


def _span_ids(spans: list[TokenSpans]) -> list[Encoded]:
    return [(s.ids, [0] * len(s.ids)) for s in spans]
