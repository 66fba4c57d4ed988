"""Wire models of TEI's /rerank (`router/src/http/types.rs`) and the Cohere/Jina /v1/rerank that
Infinity and vLLM serve. Unknown fields (e.g. the performance client's `model`) are ignored."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from bei_cli.server.wire import NonNegativeInt, PositiveInt, StrictRequest, Text, TextBatch, marked

TruncationDirection = Literal["Left", "Right", "left", "right"]


class RerankRequest(StrictRequest):
    query: Text = Field(description="The query every text is scored against.")
    texts: TextBatch = Field(description="The texts to rank; each is scored as (query, text).")
    raw_scores: bool = Field(default=False, description="Return logits instead of sigmoid scores.")
    return_text: bool = Field(default=False, description="Include each text in its result.")
    truncate: bool | None = Field(
        default=None,
        description="Cut over-long pairs to the model's maximum length (the longer side first); "
        "null: the server's auto_truncate setting. Off and too long: 422.",
    )
    truncation_direction: TruncationDirection = Field(
        default="Right", description="Which end of an over-long input is cut off."
    )


class RerankResult(BaseModel):
    index: int
    score: float
    text: str | None = Field(default=None, description="Only present when return_text is true.")


class DocumentObject(StrictRequest):
    text: Text


Documents = Annotated[
    list[Text | DocumentObject], Field(min_length=1, json_schema_extra=marked("batch"))
]


class CohereRerankRequest(StrictRequest):
    query: Text = Field(description="The query every document is scored against.")
    documents: Documents = Field(description="The documents to rank: strings or {text} objects.")
    top_n: NonNegativeInt | None = Field(
        default=None, description="Return the N best results; null or 0: all of them."
    )
    return_documents: bool = Field(
        default=True, description="Include each document as {text} in its result (Jina, vLLM)."
    )
    raw_scores: bool = Field(default=False, description="Return logits instead of sigmoid scores.")
    model: str | None = Field(
        default=None, description="Accepted and ignored: the server serves one model."
    )


class CohereRerankResult(BaseModel):
    index: int
    relevance_score: float
    document: DocumentObject | None = None


class CohereUsage(BaseModel):
    total_tokens: int


class CohereRerankResponse(BaseModel):
    id: str
    model: str
    usage: CohereUsage
    results: list[CohereRerankResult]


class CohereV2RerankRequest(StrictRequest):
    """Cohere's v2 rerank (`cohere.ClientV2.rerank`): documents are strings."""

    model: str | None = Field(
        default=None, description="Accepted and ignored: the server serves one model."
    )
    query: Text = Field(description="The query every document is scored against.")
    documents: TextBatch = Field(description="The documents to rank.")
    top_n: NonNegativeInt | None = Field(
        default=None, description="Return the N best results; null or 0: all of them."
    )
    max_tokens_per_doc: PositiveInt | None = Field(
        default=None,
        description="Accepted; each (query, document) pair is cut to the model's maximum "
        "length (the longer side first) whatever this says.",
    )


class CohereV2RerankResult(BaseModel):
    index: int
    relevance_score: float


class CohereV2RerankResponse(BaseModel):
    id: str
    results: list[CohereV2RerankResult]
    meta: dict[str, object]
