"""The longest input a checkpoint accepts, the way sentence-transformers decides it.

sentence_bert_config.json `max_seq_length` when set (bounded by the position embeddings);
otherwise the smaller of the position limit and the tokenizer's `model_max_length`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bei_cli.errors import UnsupportedModelError
from bei_cli.inspect.architectures import Family

# transformers writes int(1e30) as model_max_length when the tokenizer has no limit.
SANE_TOKENIZER_LIMIT = 1_000_000
# RoBERTa-family padding_idx when config.json does not say (transformers' default).
ROBERTA_PAD_TOKEN_ID = 1


@dataclass(frozen=True)
class SeqLen:
    value: int
    notes: tuple[str, ...] = ()  # fallbacks taken, for ModelProfile.fallbacks


def position_limit(config: Mapping[str, Any], family: Family) -> int | None:
    positions = config.get("max_position_embeddings")
    if not isinstance(positions, int) or positions <= 0:
        return None
    if family.position_offset:
        pad = config.get("pad_token_id")
        positions -= (pad if isinstance(pad, int) else ROBERTA_PAD_TOKEN_ID) + 1
    return positions


def tokenizer_limit(tokenizer_config: Mapping[str, Any]) -> int | None:
    value = tokenizer_config.get("model_max_length")
    if isinstance(value, (int, float)) and 0 < value <= SANE_TOKENIZER_LIMIT:
        return int(value)
    return None


def max_seq_len(
    config: Mapping[str, Any],
    family: Family,
    *,
    sbert_config: Mapping[str, Any],
    tokenizer_config: Mapping[str, Any],
) -> SeqLen:
    positions = position_limit(config, family)
    declared = sbert_config.get("max_seq_length")
    if isinstance(declared, int) and declared > 0:
        if positions is not None and declared > positions:
            return SeqLen(
                positions,
                (
                    f"max_seq_len: sentence_bert_config.json max_seq_length {declared} exceeds "
                    f"the {positions} position embeddings; using {positions}",
                ),
            )
        return SeqLen(declared)
    limits = [v for v in (positions, tokenizer_limit(tokenizer_config)) if v is not None]
    if not limits:
        raise UnsupportedModelError(
            "cannot tell the model's maximum input length: config.json has no "
            "max_position_embeddings, and neither sentence_bert_config.json max_seq_length nor "
            "tokenizer_config.json model_max_length is set.",
            hint='Add {"max_seq_length": N} to sentence_bert_config.json.',
        )
    if positions is None:
        return SeqLen(
            min(limits),
            (f"max_seq_len: no max_position_embeddings; using tokenizer limit {min(limits)}",),
        )
    return SeqLen(min(limits))
