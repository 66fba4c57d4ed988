"""The embedding request path shared by the OpenAI and TEI routes, as one straight line:
inputs -> tokenize (off the event loop) -> batcher -> Matryoshka/normalize -> Embeddings.

The route families differ only in their wire formats (`openai/`, `tei/`); everything that decides
what vector an input gets lives here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np

from bei_cli.engine.base import FloatArray
from bei_cli.engine.postprocess import matryoshka
from bei_cli.errors import EmptyInputError, InvalidRequestError, PayloadTooLargeError
from bei_cli.server.capabilities import require_route
from bei_cli.server.metrics import ServerMetrics
from bei_cli.server.state import EngineAccess
from bei_cli.server.tokenizer import Direction
from bei_cli.server.wire import EmbeddingInput

Item = str | list[int]

# Requests with at most this many characters are tokenized on the event loop: a thread hop
# costs more than tokenizing a few short texts (~10 us each) and matters at high request rates.
INLINE_TOKENIZE_CHARS = 2048


def input_items(value: EmbeddingInput, *, param: str, max_items: int) -> list[Item]:
    """The wire union as a list of items, refusing empty inputs and oversized client batches."""
    if isinstance(value, str):
        items: list[Item] = [value]
    elif value and isinstance(value[0], int):  # validation made it a list[int]: one input
        items = [cast(list[int], value)]
    else:
        items = cast(list[Item], value)
    if not items:
        raise EmptyInputError(f"`{param}` cannot be an empty list.", param=param)
    if len(items) > max_items:
        raise PayloadTooLargeError(
            f"`{param}` has {len(items)} items; this server accepts at most {max_items} "
            "per request.",
            hint="Split the inputs over several requests.",
            param=param,
        )
    if any(len(item) == 0 for item in items):
        raise EmptyInputError(f"`{param}` cannot contain empty texts or lists.", param=param)
    return items


@dataclass(frozen=True)
class EmbedOptions:
    truncate: bool
    direction: Direction = "right"
    prompt: str | None = None
    dimensions: int | None = None
    normalize: bool = True


@dataclass(frozen=True)
class Embeddings:
    vectors: FloatArray  # (n, dimensions), C-contiguous float32
    token_counts: list[int]
    characters: int
    tokenization_s: float
    queue_s: float  # mean over inputs
    inference_s: float  # mean over inputs


class Timed(Protocol):
    """What a model route's result reports for TEI's timing headers and the metrics."""

    @property
    def token_counts(self) -> list[int]: ...
    @property
    def characters(self) -> int: ...
    @property
    def tokenization_s(self) -> float: ...
    @property
    def queue_s(self) -> float: ...
    @property
    def inference_s(self) -> float: ...


def record(metrics: ServerMetrics, result: Timed) -> None:
    metrics.inputs.inc(len(result.token_counts))
    metrics.tokens.inc(sum(result.token_counts))
    metrics.tokenization_duration.observe(result.tokenization_s)
    metrics.queue_duration.observe(result.queue_s)


def timing_headers(result: Timed, started: float) -> dict[str, str]:
    """TEI's response headers (milliseconds); `started` is when the handler began."""
    total_ms = str(round((time.perf_counter() - started) * 1000))
    return {
        "x-compute-time": total_ms,
        "x-total-time": total_ms,
        "x-compute-tokens": str(sum(result.token_counts)),
        "x-compute-characters": str(result.characters),
        "x-tokenization-time": str(round(result.tokenization_s * 1000)),
        "x-queue-time": str(round(result.queue_s * 1000)),
        "x-inference-time": str(round(result.inference_s * 1000)),
    }


@dataclass(frozen=True)
class EmbeddingService(EngineAccess):
    token_ids: bool = True  # token-id inputs accepted (ServerSettings.token_ids)

    def check_dimensions(self, dimensions: int | None, param: str = "dimensions") -> None:
        if dimensions is not None and not 0 < dimensions <= self.info.embedding_dim:
            raise InvalidRequestError(
                f"`dimensions` must be between 1 and {self.info.embedding_dim} "
                f"(the model's embedding size), got {dimensions}.",
                param=param,
            )

    async def embed(
        self, items: Sequence[Item], options: EmbedOptions, param: str, route: str
    ) -> Embeddings:
        require_route(self.info.task, route)
        self.check_dimensions(options.dimensions)
        with self.gate.admit():
            started = time.perf_counter()
            sequences = await self._tokenize(items, options, param)
            tokenized = time.perf_counter()
            with self.gate.queued(sequences) as deadline:
                results = await self.batcher.run(sequences, deadline=deadline)
        vectors = matryoshka(
            np.stack([r.values for r in results]), options.dimensions, normalize=options.normalize
        )
        result = Embeddings(
            vectors=np.ascontiguousarray(vectors, dtype=np.float32),
            token_counts=[len(s) for s in sequences],
            characters=sum(len(item) for item in items if isinstance(item, str)),
            tokenization_s=tokenized - started,
            queue_s=sum(r.queue_s for r in results) / len(results),
            inference_s=sum(r.inference_s for r in results) / len(results),
        )
        record(self.metrics, result)
        return result

    async def _tokenize(
        self, items: Sequence[Item], options: EmbedOptions, param: str
    ) -> list[list[int]]:
        characters = sum(len(item) for item in items if isinstance(item, str))
        if characters <= INLINE_TOKENIZE_CHARS:
            return self._tokenize_now(items, options, param)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._tokenize_now, items, options, param)

    def _tokenize_now(
        self, items: Sequence[Item], options: EmbedOptions, param: str
    ) -> list[list[int]]:
        texts = [(i, item) for i, item in enumerate(items) if isinstance(item, str)]
        id_lists = [(i, item) for i, item in enumerate(items) if not isinstance(item, str)]
        if id_lists and not self.token_ids:
            raise InvalidRequestError(
                f"`{param}` holds token ids, which this server does not accept (it was started "
                "with --no-token-ids): ids made by another tokenizer would embed the wrong text.",
                hint="Send the text instead. langchain-openai: OpenAIEmbeddings(..., "
                "check_embedding_ctx_length=False).",
                param=param,
            )
        out: list[list[int]] = [[] for _ in items]
        encoded = self.tokenizer.encode(
            [text for _, text in texts],
            truncate=options.truncate,
            direction=options.direction,
            prompt=options.prompt,
            param=param,
        )
        checked = self.tokenizer.encode_ids(
            [ids for _, ids in id_lists],
            truncate=options.truncate,
            direction=options.direction,
            param=param,
        )
        for (i, _), ids in zip([*texts, *id_lists], [*encoded, *checked], strict=True):
            out[i] = ids
        return out
