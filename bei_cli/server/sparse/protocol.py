"""Wire models of TEI's /embed_sparse (`router/src/http/types.rs`: `EmbedSparseRequest`,
`SparseValue`). Unknown fields are ignored; `top_k` is bei's addition."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bei_cli.server.tei.protocol import TruncationDirection
from bei_cli.server.wire import EmbeddingInput, PromptName, StrictRequest


class EmbedSparseRequest(StrictRequest):
    inputs: EmbeddingInput = Field(
        description="A text, a list of texts, a list of token ids, or a list of token-id lists."
    )
    truncate: bool | None = Field(
        default=None,
        description="Cut over-long inputs to the model's maximum length; null: the server's "
        "auto_truncate setting. Off and too long: 422.",
    )
    truncation_direction: TruncationDirection = Field(
        default="Right", description="Which end of an over-long input is cut off."
    )
    prompt_name: PromptName | None = Field(
        default=None, description="A prompt of the model, prepended to each text."
    )
    top_k: int | None = Field(
        default=None,
        ge=1,
        description="Keep only the k largest weights of each vector (still sorted by index); "
        "null: every non-zero weight, as TEI returns.",
    )


class SparseValue(BaseModel):
    index: int = Field(description="The vocabulary id (token id) the weight belongs to.")
    value: float = Field(description="The SPLADE weight, > 0.")
