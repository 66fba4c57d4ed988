"""Wire models of TEI's /tokenize and /decode (`router/src/http/types.rs`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from bei_cli.server.wire import PromptName, StrictRequest, Text, TextBatch, TokenIds, marked

DecodeIds = (
    TokenIds | Annotated[list[TokenIds], Field(min_length=1, json_schema_extra=marked("batch"))]
)


class TokenizeRequest(StrictRequest):
    inputs: Text | TextBatch = Field(description="A text or a list of texts.")
    add_special_tokens: bool = Field(
        default=True, description="Add the model's special tokens ([CLS], [SEP], ...)."
    )
    prompt_name: PromptName | None = Field(
        default=None,
        description="A prompt of the model, prepended to each text before tokenizing; absent: "
        "the model's default prompt, if any.",
    )


class SimpleToken(BaseModel):
    id: int
    text: str = Field(description="The input's text at [start, stop); a special token's string.")
    special: bool
    start: int | None = Field(description="Character offset; null for special tokens.")
    stop: int | None


class DecodeRequest(StrictRequest):
    ids: DecodeIds = Field(description="One token-id list or a list of them.")
    skip_special_tokens: bool = Field(default=True, description="Leave special tokens out.")
