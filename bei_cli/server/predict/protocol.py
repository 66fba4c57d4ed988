"""Wire model of TEI's /predict (`router/src/http/types.rs`, `PredictInput`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from bei_cli.server.rerank.protocol import TruncationDirection
from bei_cli.server.wire import StrictRequest, Text, marked

# One text ["t"] or a pair ["a", "b"].
TextOrPair = Annotated[list[Text], Field(min_length=1, max_length=2)]
# "text" (single), ["a", "b"] (a pair), or [["t1"], ["t2", "t3"], ...] (a batch of singles/pairs).
PredictInput = (
    Text
    | TextOrPair
    | Annotated[list[TextOrPair], Field(min_length=1, json_schema_extra=marked("batch"))]
)


class PredictRequest(StrictRequest):
    inputs: PredictInput = Field(
        description="A text, a pair [a, b], or a batch [[text] or [a, b], ...]; a batch is "
        "answered with one list per item, the other forms with one list."
    )
    raw_scores: bool = Field(
        default=False, description="Return logits instead of softmax/sigmoid scores."
    )
    truncate: bool | None = Field(
        default=None,
        description="Cut over-long inputs to the model's maximum length (pairs: the longer side "
        "first); null: the server's auto_truncate setting. Off and too long: 422.",
    )
    truncation_direction: TruncationDirection = Field(
        default="Right", description="Which end of an over-long input is cut off."
    )


class LabelScore(BaseModel):
    label: str
    score: float
