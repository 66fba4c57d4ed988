"""OpenAI embeddings: request -> EmbeddingService -> OpenAI reply body.

Semantics follow TEI's OpenAI route: vectors are always L2-normalized, truncation follows the
server's `auto_truncate` and cuts on the right, `model` in the reply is the served model name.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from bei_cli.engine.base import FloatArray
from bei_cli.server.embedding import Embeddings, EmbeddingService, EmbedOptions, input_items
from bei_cli.server.openai.protocol import EmbeddingRequest

ROUTE = "/v1/embeddings"
PARAM = "input"


def base64_vector(vector: FloatArray) -> str:
    """What the OpenAI SDK decodes: standard base64 of little-endian float32 bytes."""
    return base64.b64encode(vector.astype("<f4", copy=False).tobytes()).decode("ascii")


class OpenAIEmbeddings:
    def __init__(
        self,
        service: EmbeddingService,
        *,
        served_model_name: str,
        auto_truncate: bool,
        max_client_batch_size: int,
        default_prompt: str | None,
    ) -> None:
        self.service = service
        self.served_model_name = served_model_name
        self.auto_truncate = auto_truncate
        self.max_client_batch_size = max_client_batch_size
        self.default_prompt = default_prompt
        self.created = int(time.time())  # when this server started: OpenAI's `created`

    def models(self) -> dict[str, Any]:
        card = {
            "id": self.served_model_name,
            "object": "model",
            "created": self.created,
            "owned_by": "bei",
        }
        return {"object": "list", "data": [card]}

    async def create(self, request: EmbeddingRequest) -> tuple[dict[str, Any], Embeddings]:
        items = input_items(request.input, param=PARAM, max_items=self.max_client_batch_size)
        options = EmbedOptions(
            truncate=self.auto_truncate,
            prompt=self.default_prompt,
            dimensions=request.dimensions,
            normalize=True,
        )
        result = await self.service.embed(items, options, PARAM, ROUTE)
        encode = base64_vector if request.encoding_format == "base64" else _as_is
        tokens = sum(result.token_counts)
        body = {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": encode(vector)}
                for i, vector in enumerate(result.vectors)
            ],
            "model": self.served_model_name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return body, result


def _as_is(vector: FloatArray) -> FloatArray:
    return vector
