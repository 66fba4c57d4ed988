"""What every request model is built from: strict JSON types (no bool -> int, no 1.5 -> 1, no
"1" -> 1, no "true" -> bool coercion), non-empty texts and lists, and markers for the limits that
depend on the loaded model (vocabulary, embedding size, batch size, prompt names).

The markers (`x-bei-limit`) are replaced in each app's OpenAPI document by `apply_limits`, so the
schema states exactly the limits the server enforces; the server enforces them where it always
did (tokenizer, EmbeddingService, check_count), with the same bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

LIMIT_KEY = "x-bei-limit"


def marked(limit: str) -> dict[str, Any]:
    return {LIMIT_KEY: limit}


class StrictRequest(BaseModel):
    """A request body: JSON types are taken as they are; unknown fields are ignored (as OpenAI,
    TEI and Cohere do)."""

    model_config = ConfigDict(strict=True)


def _whole_number(value: object) -> object:
    """JSON Schema's `integer` is any number with a zero fractional part: 2.0 is the integer 2
    (and schema-driven clients and fuzzers send it so). Booleans are not numbers in JSON."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Integer fields: JSON integers and whole-number floats; never true/false, 1.5 or "1". (The
# bound goes before the validator, or pydantic leaves it out of the JSON schema.)
WHOLE = BeforeValidator(_whole_number)
NonNegativeInt = Annotated[int, Field(ge=0), WHOLE]
PositiveInt = Annotated[int, Field(ge=1), WHOLE]
# A text the model reads: empty ones are refused (400), as TEI does.
Text = Annotated[str, Field(min_length=1)]
TokenId = Annotated[int, Field(ge=0, json_schema_extra=marked("token-id")), WHOLE]
# One pre-tokenized input: used as given, cut to the maximum length when truncating.
TokenIds = Annotated[list[TokenId], Field(min_length=1)]
# A pre-tokenized model input, which a server started with --no-token-ids refuses.
InputTokenIds = Annotated[list[TokenId], Field(min_length=1, json_schema_extra=marked("input-ids"))]
TextBatch = Annotated[list[Text], Field(min_length=1, json_schema_extra=marked("batch"))]
# The wire form of `input` / `inputs`: one text, one token-id list, or a list of either.
EmbeddingInput = (
    Text
    | InputTokenIds
    | Annotated[list[Text | InputTokenIds], Field(min_length=1, json_schema_extra=marked("batch"))]
)
Dimensions = Annotated[int, Field(ge=1, json_schema_extra=marked("dimensions")), WHOLE]
PromptName = Annotated[str, Field(json_schema_extra=marked("prompt-name"))]


@dataclass(frozen=True)
class ModelLimits:
    """The bounds of one served model, as the server enforces them."""

    vocab_size: int
    embedding_dim: int
    max_client_batch_size: int
    prompt_names: tuple[str, ...]
    token_ids: bool = True  # token-id model inputs accepted (settings.token_ids)

    def replacement(self, limit: str) -> dict[str, Any] | None:
        """The bound a marker stands for; None: nothing satisfies it."""
        table: dict[str, dict[str, Any] | None] = {
            "token-id": {"maximum": self.vocab_size - 1},
            "input-ids": {} if self.token_ids else None,
            "dimensions": {"maximum": self.embedding_dim},
            "batch": {"maxItems": self.max_client_batch_size},
            "prompt-name": {"enum": list(self.prompt_names)} if self.prompt_names else None,
        }
        return table[limit]


def apply_limits(node: Any, limits: ModelLimits) -> Any:
    """A copy of an OpenAPI (sub)document with every limit marker replaced by its bound. What
    nothing satisfies (a prompt name of a model without prompts, token-id inputs on a server that
    refuses them) becomes `not: {}`: a prompt name is then only null, an input only text."""
    if isinstance(node, list):
        return [apply_limits(item, limits) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: apply_limits(value, limits) for key, value in node.items() if key != LIMIT_KEY}
    if LIMIT_KEY in node:
        bound = limits.replacement(node[LIMIT_KEY])
        if bound is None:
            return {"not": {}}
        out.update(bound)
    return out
