"""Cohere v2 embed: texts -> EmbeddingService -> {embeddings: {float: [...]}}; vectors are
L2-normalized (Cohere's are)."""

from __future__ import annotations

import uuid
from typing import Any

from bei_cli.server.cohere.protocol import CohereEmbedRequest
from bei_cli.server.embedding import Embeddings, EmbeddingService, EmbedOptions, Item, input_items

ROUTE = "/v2/embed"
PARAM = "texts"


class CohereEmbeddings:
    def __init__(
        self, service: EmbeddingService, *, max_client_batch_size: int, default_prompt: str | None
    ) -> None:
        self.service = service
        self.max_client_batch_size = max_client_batch_size
        self.default_prompt = default_prompt

    async def embed(self, request: CohereEmbedRequest) -> tuple[dict[str, Any], Embeddings]:
        items = input_items(
            list[Item](request.texts), param=PARAM, max_items=self.max_client_batch_size
        )
        options = EmbedOptions(
            truncate=request.truncate != "NONE",
            direction="left" if request.truncate == "START" else "right",
            prompt=self.default_prompt,
            dimensions=request.output_dimension,
            normalize=True,
        )
        result = await self.service.embed(items, options, PARAM, ROUTE)
        body = {
            "id": f"embed-{uuid.uuid4().hex}",
            "response_type": "embeddings_by_type",
            "embeddings": {"float": result.vectors},
            "texts": request.texts,
            "meta": {
                "api_version": {"version": "2"},
                "billed_units": {"input_tokens": sum(result.token_counts)},
            },
        }
        return body, result
