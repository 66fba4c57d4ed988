"""TEI /embed: request -> EmbeddingService -> a bare list of vectors."""

from __future__ import annotations

from typing import cast

from bei_cli.errors import InvalidRequestError
from bei_cli.server.embedding import Embeddings, EmbeddingService, EmbedOptions, input_items
from bei_cli.server.tei.protocol import EmbedRequest
from bei_cli.server.tokenizer import Direction

ROUTE = "/embed"
PARAM = "inputs"


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
        name = name if name is not None else self.default_prompt_name
        if name is None:
            return None
        if name not in self.prompts:
            available = ", ".join(sorted(self.prompts)) or "none (the model defines no prompts)"
            raise InvalidRequestError(
                f"Unknown prompt_name {name!r}. Available: {available}.", param="prompt_name"
            )
        return self.prompts[name]

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
