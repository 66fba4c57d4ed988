"""The `bei:` block: bei's own knobs, in one optional top-level mapping.

`truss push` rejects unknown top-level keys, so a config that uses this block is bei-only.
Every default is chosen so that real Truss configs need nothing here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bei_cli.config.base import ConfigModel

EngineChoice = Literal["auto", "torch", "onnx", "fake"]
DtypeChoice = Literal["auto", "float32", "bfloat16", "float16"]


class BeiOptions(ConfigModel):
    """bei's own settings (the optional top-level `bei:` block)."""

    engine: EngineChoice = Field(
        default="auto",
        description="Inference engine: torch (PyTorch, CPU or CUDA), onnx (ONNX Runtime on CPU, "
        "float32 or weights_int8 embedding models; exported and fused at build time), fake "
        "(deterministic outputs without weights, for tests), auto: for a CPU target with "
        "no_quant, `bei build` builds every candidate that applies (torch float32; torch "
        "bfloat16 where the CPU has native bf16; onnx float32 for embedding models), times each "
        "on the bundled held-out texts, gates it for accuracy against torch float32, and keeps "
        "the fastest that passes (figures in build_report.json next to the manifest); "
        "weights_int8 builds onnx; otherwise torch. An explicit engine skips the measurement.",
    )
    dtype: DtypeChoice = Field(
        default="auto",
        description="Weight/activation dtype when quantization_type is no_quant: float32, "
        "bfloat16, float16, or auto (on a CPU: bfloat16 only where it has native bf16 -- the "
        "avx512_bf16 or amx_bf16 flag -- else float32; on a GPU, BEI's rules: float16 for "
        "encoder_bert (bfloat16 where the checkpoint is bfloat16 or its family overflows "
        "float16, and as the fallback should float16 fail the accuracy gate), bfloat16 for "
        "encoder). Every build other than torch float32 passes the accuracy gate.",
    )
    accuracy_floor: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="The accuracy gate's floor: every build other than torch float32 is run on "
        "the bundled held-out texts next to torch float32 on the same checkpoint, and fails "
        "(exit 5) below it. Embedding models are judged by the minimum cosine similarity, "
        "classifiers and rerankers by label agreement, NER models by per-token label agreement. "
        "null: by precision -- 0.999 for 16-bit, 0.99 for 8-bit, 0.98 for 4-bit, 0.9999 for "
        "another float32 engine.",
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

    def resolved_dtype(
        self, *, cpu_bf16: bool = False
    ) -> Literal["float32", "bfloat16", "float16"]:
        """A CPU target's dtype. `cpu_bf16`: the CPU has native bf16 (see bei_cli.hardware).
        GPU targets follow BEI's rules instead (bei_cli.quantize.plan.cuda_precisions)."""
        if self.dtype != "auto":
            return self.dtype
        return "bfloat16" if cpu_bf16 else "float32"

    def resolved_auto_truncate(self, base_model: str) -> bool:
        if self.auto_truncate is not None:
            return self.auto_truncate
        return base_model == "encoder_bert"
