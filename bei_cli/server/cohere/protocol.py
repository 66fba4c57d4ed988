"""Wire models of Cohere's v2 embed (`cohere` SDK `V2Client.embed`, `EmbedByTypeResponse`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from bei_cli.server.wire import Dimensions, StrictRequest, TextBatch

InputType = Literal["search_document", "search_query", "classification", "clustering", "image"]


class CohereEmbedRequest(StrictRequest):
    model: str | None = Field(
        default=None, description="Accepted and ignored: the server serves one model."
    )
    texts: TextBatch = Field(description="The texts to embed.")
    input_type: InputType | None = Field(
        default=None,
        description="Accepted; the model's default prompt (if any) is used whatever this says.",
    )
    embedding_types: list[Literal["float"]] = Field(
        default=["float"], min_length=1, description="Only `float` is served."
    )
    truncate: Literal["NONE", "START", "END"] = Field(
        default="END",
        description="Cut over-long texts at the end or the start; NONE: refuse them (422).",
    )
    output_dimension: Dimensions | None = Field(
        default=None, description="Matryoshka: keep the first N dimensions, then L2-normalize."
    )


class EmbeddingsByType(BaseModel):
    float_: list[list[float]] = Field(alias="float")


class CohereEmbedResponse(BaseModel):
    id: str
    response_type: Literal["embeddings_by_type"] = "embeddings_by_type"
    embeddings: EmbeddingsByType
    texts: list[str]
    meta: dict[str, object]
