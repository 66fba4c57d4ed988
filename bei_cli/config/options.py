"""The `bei:` block: bei's own knobs, in one optional top-level mapping.

`truss push` rejects unknown top-level keys, so a config that uses this block is bei-only.
Every default is chosen so that real Truss configs need nothing here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bei_cli.config.base import ConfigModel

EngineChoice = Literal["auto", "torch", "onnx", "fake"]
DtypeChoice = Literal["auto", "float32", "bfloat16"]


class BeiOptions(ConfigModel):
    """bei's own settings (the optional top-level `bei:` block)."""

    engine: EngineChoice = Field(
        default="auto",
        description="Inference engine: torch (PyTorch, CPU or CUDA), onnx (ONNX Runtime on CPU, "
        "float32, embedding models; exported and fused at build time), fake (deterministic "
        "outputs without weights, for tests), auto (currently torch).",
    )
    dtype: DtypeChoice = Field(
        default="auto",
        description="Weight/activation dtype when quantization_type is no_quant: float32, "
        "bfloat16, or auto (float32 on CPU, bfloat16 on GPU).",
    )
    max_client_batch_size: int = Field(
        default=1024,
        strict=True,
        ge=1,
        description="Most inputs one request may carry; larger requests get HTTP 413.",
    )
    max_concurrent_requests: int = Field(
        default=2048,
        strict=True,
        ge=1,
        description="Requests admitted at once (queued or running); beyond it the server "
        "answers HTTP 429 so clients back off and retry.",
    )
    auto_truncate: bool | None = Field(
        default=None,
        description="Truncate inputs longer than the model accepts instead of rejecting them "
        "(HTTP 422). null: like BEI, true for encoder_bert and false for encoder.",
    )
    served_model_name: str | None = Field(
        default=None,
        min_length=1,
        description="Model name reported by /info and OpenAI responses. null: "
        "trt_llm.runtime.served_model_name, else model_name.",
    )
    api_key_secret: str | None = Field(
        default=None,
        min_length=1,
        description="Name of a secret holding the API key clients must send "
        "(`Authorization: Bearer KEY` or `Api-Key KEY`). null: no authentication. Declare it "
        "under `secrets:` too.",
    )

    @property
    def resolved_engine(self) -> Literal["torch", "onnx", "fake"]:
        return "torch" if self.engine == "auto" else self.engine

    def resolved_dtype(self, *, on_gpu: bool) -> Literal["float32", "bfloat16"]:
        if self.dtype != "auto":
            return self.dtype
        return "bfloat16" if on_gpu else "float32"

    def resolved_auto_truncate(self, base_model: str) -> bool:
        if self.auto_truncate is not None:
            return self.auto_truncate
        return base_model == "encoder_bert"
