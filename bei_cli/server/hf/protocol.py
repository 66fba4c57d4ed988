"""Wire models of the Hugging Face Inference API's text- and token-classification tasks
(`huggingface_hub` `TextClassificationInput`, `TokenClassificationInput` and their outputs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from bei_cli.server.ner.aggregation import Strategy
from bei_cli.server.wire import NonNegativeInt, PositiveInt, StrictRequest, Text, TextBatch

HfInputs = Text | TextBatch


class TextClassificationParameters(StrictRequest):
    function_to_apply: Literal["sigmoid", "softmax", "none"] | None = Field(
        default=None,
        description="The activation; null: the model's own (softmax, or sigmoid for one label "
        "and multi-label models), as transformers' pipeline.",
    )
    top_k: PositiveInt | None = Field(
        default=None, description="Keep the K best labels; null: all of them."
    )


class TextClassificationRequest(StrictRequest):
    inputs: HfInputs = Field(description="A text or a list of texts.")
    parameters: TextClassificationParameters = Field(default_factory=TextClassificationParameters)


class LabelScore(BaseModel):
    label: str
    score: float


class TokenClassificationParameters(StrictRequest):
    aggregation_strategy: Strategy | None = Field(
        default=None, description="As transformers' pipeline; null: simple."
    )
    ignore_labels: list[str] | None = Field(
        default=None, description='Labels left out of the reply; null: ["O"].'
    )
    stride: NonNegativeInt | None = Field(
        default=None,
        description="Accepted; over-long texts are truncated (the server's auto_truncate), "
        "not windowed.",
    )


class TokenClassificationRequest(StrictRequest):
    inputs: HfInputs = Field(description="A text or a list of texts.")
    parameters: TokenClassificationParameters = Field(default_factory=TokenClassificationParameters)


class TokenEntity(BaseModel):
    entity_group: str | None = Field(default=None, description="Aggregated strategies only.")
    entity: str | None = Field(default=None, description="Strategy none only: the token label.")
    score: float
    word: str
    start: int
    end: int
