"""Wire model of BEI's /predict_tokens (Baseten docs `engines/bei/ner`, truss-examples
`BEI-Bert-dslim-bert-base-ner-uncased`). Unknown fields are ignored."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from bei_cli.server.ner.aggregation import Strategy
from bei_cli.server.rerank.protocol import TruncationDirection
from bei_cli.server.wire import StrictRequest, Text, TextBatch, marked

# "text", ["t1", "t2"], or the documented batch form [["t1"], ["t2", "t3"]] (flattened; the
# flattened count is what max_client_batch_size limits).
TokensInput = (
    Text
    | TextBatch
    | Annotated[list[TextBatch], Field(min_length=1, json_schema_extra=marked("batch"))]
)


class PredictTokensRequest(StrictRequest):
    inputs: TokensInput = Field(
        description="A text, a list of texts, or a list of lists of texts (flattened); the "
        "reply holds one list per text, in order."
    )
    raw_scores: bool = Field(
        default=False,
        description="false: each entity's label with its probability; true: logits -- every "
        "label's logit per token with aggregation_strategy none, the aggregated logit otherwise.",
    )
    truncate: bool | None = Field(
        default=None,
        description="Cut over-long texts to the model's maximum length; null: the server's "
        "auto_truncate setting. Off and too long: 422.",
    )
    truncation_direction: TruncationDirection = Field(
        default="Right", description="Which end of an over-long input is cut off."
    )
    aggregation_strategy: Strategy = Field(
        default="none",
        description="none | simple | first | average | max, as transformers' "
        "token-classification pipeline: none = one result per sub-word token.",
    )


class TokenResult(BaseModel):
    token: str = Field(description="The text at [start, end).")
    token_id: int = Field(description="The token's id with strategy none; 0 for aggregated spans.")
    start: int
    end: int
    results: dict[str, float]
