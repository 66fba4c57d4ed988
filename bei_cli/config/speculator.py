"""`trt_llm.build.speculator`: speculative decoding for text generation (decoder only).

bei serves encoders, so any speculator is rejected later by the build rules; its own checks are
kept so a decoder config gets the same messages Truss gives.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from bei_cli.config.base import ConfigModel
from bei_cli.config.checkpoint_repository import CheckpointRepository
from bei_cli.config.choices import SpeculativeDecodingMode
from bei_cli.config.trt_llm_runtime import TrtLlmRuntime

MAX_DRAFT_TOKENS = 2048
PositiveStrictInt = Annotated[int, Field(strict=True, ge=1)]


def lookahead_draft_tokens(window: int, ngram: int, verification: int) -> int:
    """Draft tokens per step of lookahead decoding (TensorRT-LLM's formula)."""
    return (0 if ngram == 1 else ngram - 2) + (window - 1 + verification) * (ngram - 1)


class Speculator(ConfigModel):
    """Speculative decoding settings (decoder models only)."""

    speculative_decoding_mode: SpeculativeDecodingMode = Field(
        default="DRAFT_TOKENS_EXTERNAL",
        description="LOOKAHEAD_DECODING, or DRAFT_TOKENS_EXTERNAL (discontinued).",
    )
    num_draft_tokens: PositiveStrictInt | None = Field(
        default=None, description="Draft tokens per step; computed for lookahead when unset."
    )
    checkpoint_repository: CheckpointRepository | None = Field(
        default=None, description="Draft model checkpoint (DRAFT_TOKENS_EXTERNAL)."
    )
    runtime: TrtLlmRuntime | None = Field(default=None, description="Draft model runtime.")
    build: dict[str, Any] | None = Field(
        default=None, description="Draft model build settings (DRAFT_TOKENS_EXTERNAL)."
    )
    lookahead_windows_size: PositiveStrictInt | None = Field(
        default=None, description="Lookahead window size W."
    )
    lookahead_ngram_size: PositiveStrictInt | None = Field(
        default=None, description="Lookahead n-gram size N."
    )
    lookahead_verification_set_size: PositiveStrictInt | None = Field(
        default=None, description="Lookahead verification set size G."
    )
    enable_b10_lookahead: bool | None = Field(
        default=False, description="Baseten's dynamic lookahead variant."
    )

    @property
    def draft_tokens(self) -> int | None:
        """num_draft_tokens, or the lookahead formula's value when it is not set."""
        sizes = self._lookahead_sizes()
        if self.num_draft_tokens is None and sizes is not None:
            return lookahead_draft_tokens(*sizes)
        return self.num_draft_tokens

    def _lookahead_sizes(self) -> tuple[int, int, int] | None:
        window = self.lookahead_windows_size
        ngram = self.lookahead_ngram_size
        verification = self.lookahead_verification_set_size
        if window is None or ngram is None or verification is None:
            return None
        return window, ngram, verification

    @model_validator(mode="after")
    def _check_mode(self) -> Speculator:
        if self.speculative_decoding_mode == "DRAFT_TOKENS_EXTERNAL":
            if (self.checkpoint_repository is None) == (self.build is None):
                raise ValueError(
                    "speculative decoding requires exactly one of checkpoint_repository or build"
                )
            if not self.num_draft_tokens:
                raise ValueError("DRAFT_TOKENS_EXTERNAL requires num_draft_tokens")
            return self
        sizes = self._lookahead_sizes()
        if sizes is None:
            raise ValueError(
                "LOOKAHEAD_DECODING requires lookahead_windows_size, lookahead_ngram_size and "
                "lookahead_verification_set_size"
            )
        needed = lookahead_draft_tokens(*sizes)
        if self.num_draft_tokens is not None and self.num_draft_tokens < needed:
            raise ValueError(
                f"num_draft_tokens {self.num_draft_tokens} is below the {needed} draft tokens "
                "the lookahead sizes need"
            )
        draft = self.draft_tokens or 0
        if draft > MAX_DRAFT_TOKENS:
            raise ValueError(
                f"num_draft_tokens must be at most {MAX_DRAFT_TOKENS}, but the lookahead sizes "
                f"{sizes} need {draft}; lower any of them"
            )
        return self
