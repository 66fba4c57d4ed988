"""Wire models of TEI's /embed (`router/src/http/types.rs`). Unknown fields are ignored."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bei_cli.server.wire import (
    Dimensions,
    EmbeddingInput,
    PromptName,
    StrictRequest,
    Text,
    TextBatch,
)

TruncationDirection = Literal["Left", "Right", "left", "right"]


class EmbedRequest(StrictRequest):
    inputs: EmbeddingInput = Field(
        description="A text, a list of texts, a list of token ids, or a list of token-id lists."
    )
    normalize: bool = Field(default=True, description="L2-normalize the vectors.")
    truncate: bool | None = Field(
        default=None,
        description="Cut over-long inputs to the model's maximum length; null: the server's "
        "auto_truncate setting. Off and too long: 422.",
    )
    truncation_direction: TruncationDirection = Field(
        default="Right", description="Which end of an over-long input is cut off."
    )
    prompt_name: PromptName | None = Field(
        default=None,
        description="A prompt of the model (sentence-transformers `prompts`), prepended to each "
        "text; absent: the model's default prompt, if any.",
    )
    dimensions: Dimensions | None = Field(
        default=None,
        description="Matryoshka: keep the first N dimensions (before normalization).",
    )


class EmbedAllRequest(StrictRequest):
    """TEI's /embed_all: every token's vector (the last hidden state), no pooling."""

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
        default=None,
        description="A prompt of the model, prepended to each text (its tokens are returned "
        "too); absent: the model's default prompt, if any.",
    )


class SimilarityInputs(StrictRequest):
    source_sentence: Text = Field(description="The sentence the others are compared with.")
    sentences: TextBatch = Field(description="The sentences to compare with it.")


class SimilarityParameters(StrictRequest):
    truncate: bool | None = Field(
        default=None, description="As /embed's `truncate`; null: the server's auto_truncate."
    )
    truncation_direction: TruncationDirection = Field(
        default="Right", description="Which end of an over-long input is cut off."
    )
    prompt_name: PromptName | None = Field(
        default=None, description="A prompt of the model, as /embed's `prompt_name`."
    )


class SimilarityRequest(StrictRequest):
    """TEI's /similarity, which is Hugging Face's sentence-similarity task."""

    inputs: SimilarityInputs
    parameters: SimilarityParameters | None = None
