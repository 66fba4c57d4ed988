"""Wire models of OpenAI's embeddings API (`openai-python` `embedding_create_params.py`,
`create_embedding_response.py`). Unknown request fields are ignored, as OpenAI and TEI do."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from bei_cli.server.wire import Dimensions, EmbeddingInput, StrictRequest


class EmbeddingRequest(StrictRequest):
    input: EmbeddingInput = Field(
        description="A text, a list of texts, a list of token ids, or a list of token-id lists."
    )
    model: str | None = Field(
        default=None, description="Accepted and ignored: the server serves one model."
    )
    encoding_format: Literal["float", "base64"] = Field(
        default="float",
        description="`base64`: standard base64 of the little-endian float32 bytes.",
    )
    dimensions: Dimensions | None = Field(
        default=None,
        description="Matryoshka: keep the first N dimensions, then L2-normalize.",
    )
    user: str | None = Field(default=None, description="Accepted and ignored.")


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    """Documentation of the reply; the route writes it with orjson directly. Every field is
    always present: baseten-performance-client fails to parse a reply missing any."""

    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
