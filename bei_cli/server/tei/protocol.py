"""Wire models of TEI's /embed (`router/src/http/types.rs`). Unknown fields are ignored."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from bei_cli.server.embedding import EmbeddingInput


class EmbedRequest(BaseModel):
    inputs: EmbeddingInput = Field(
        description="A text, a list of texts, a list of token ids, or a list of token-id lists."
    )
    normalize: bool = Field(default=True, description="L2-normalize the vectors.")
    truncate: bool | None = Field(
        default=None,
        description="Cut over-long inputs to the model's maximum length; null: the server's "
        "auto_truncate setting. Off and too long: 422.",
    )
    truncation_direction: Literal["Left", "Right", "left", "right"] = Field(
        default="Right", description="Which end of an over-long input is cut off."
    )
    prompt_name: str | None = Field(
        default=None,
        description="A prompt of the model (sentence-transformers `prompts`), prepended to each "
        "text; absent: the model's default prompt, if any.",
    )
    dimensions: int | None = Field(
        default=None,
        gt=0,
        description="Matryoshka: keep the first N dimensions (before normalization).",
    )
