"""TEI /embed: request -> EmbeddingService -> a bare list of vectors; /embed_all: the same
inputs -> every token's vector (the engine's per-token states, `Batch.per_token`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast

from bei_cli.engine.base import FloatArray
from bei_cli.errors import InvalidRequestError
from bei_cli.server.capabilities import require_engine_route
from bei_cli.server.embedding import (
    Embeddings,
    EmbeddingService,
    EmbedOptions,
    Item,
    input_items,
    record,
)
from bei_cli.server.scoring import check_count
from bei_cli.server.tei.protocol import (
    EmbedAllRequest,
    EmbedRequest,
    SimilarityParameters,
    SimilarityRequest,
)
from bei_cli.server.tokenizer import Direction

ROUTE = "/embed"
EMBED_ALL_ROUTE = "/embed_all"
SIMILARITY_ROUTE = "/similarity"
PARAM = "inputs"


def prompt_of(prompts: dict[str, str], name: str | None, default_name: str | None) -> str | None:
    """The prompt text `name` (or the model's default) stands for; unknown names are a 422."""
    name = name if name is not None else default_name
    if name is None:
        return None
    if name not in prompts:
        available = ", ".join(sorted(prompts)) or "none (the model defines no prompts)"
        raise InvalidRequestError(
            f"Unknown prompt_name {name!r}. Available: {available}.", param="prompt_name"
        )
    return prompts[name]


@dataclass(frozen=True)
class TokenEmbeddings:
    """/embed_all's result: one (tokens, hidden_size) float32 array per input."""

    vectors: list[FloatArray]
    token_counts: list[int]
    characters: int
    tokenization_s: float
    queue_s: float
    inference_s: float


class TeiEmbed:
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

    def prompt(self, name: str | None) -> str | None:
        return prompt_of(self.prompts, name, self.default_prompt_name)

    async def embed(self, request: EmbedRequest) -> Embeddings:
        items = input_items(request.inputs, param=PARAM, max_items=self.max_client_batch_size)
        options = EmbedOptions(
            truncate=self.auto_truncate if request.truncate is None else request.truncate,
            direction=cast(Direction, request.truncation_direction.lower()),
            prompt=self.prompt(request.prompt_name),
            dimensions=request.dimensions,
            normalize=request.normalize,
        )
        return await self.service.embed(items, options, PARAM, ROUTE)

    async def similarity(self, request: SimilarityRequest) -> tuple[list[float], Embeddings]:
        """TEI /similarity: cosine of the source sentence with each sentence, in order."""
        sentences = request.inputs.sentences
        check_count(len(sentences), param=PARAM, max_items=self.max_client_batch_size)
        params = request.parameters or SimilarityParameters()
        options = EmbedOptions(
            truncate=self.auto_truncate if params.truncate is None else params.truncate,
            direction=cast(Direction, params.truncation_direction.lower()),
            prompt=self.prompt(params.prompt_name),
            normalize=True,
        )
        items: list[Item] = [request.inputs.source_sentence, *sentences]
        result = await self.service.embed(items, options, PARAM, SIMILARITY_ROUTE)
        source, others = result.vectors[0], result.vectors[1:]
        return [float(score) for score in others @ source], result

    async def embed_all(self, request: EmbedAllRequest) -> TokenEmbeddings:
        """TEI /embed_all: the last hidden state of every token of each input, special and
        prompt tokens included, neither pooled nor normalized."""
        service = self.service
        require_engine_route(service.info, EMBED_ALL_ROUTE)
        items = input_items(request.inputs, param=PARAM, max_items=self.max_client_batch_size)
        options = EmbedOptions(
            truncate=self.auto_truncate if request.truncate is None else request.truncate,
            direction=cast(Direction, request.truncation_direction.lower()),
            prompt=self.prompt(request.prompt_name),
        )
        with service.gate.admit():
            started = time.perf_counter()
            sequences = await service._tokenize(items, options, PARAM)
            tokenized = time.perf_counter()
            with service.gate.queued(sequences) as deadline:
                results = await service.batcher.run(sequences, per_token=True, deadline=deadline)
        result = TokenEmbeddings(
            vectors=[r.values for r in results],
            token_counts=[len(s) for s in sequences],
            characters=sum(len(item) for item in items if isinstance(item, str)),
            tokenization_s=tokenized - started,
            queue_s=sum(r.queue_s for r in results) / len(results),
            inference_s=sum(r.inference_s for r in results) / len(results),
        )
        record(service.metrics, result)
        return result
