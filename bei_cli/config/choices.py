"""The enumerated values of the `trt_llm` block, exactly as Truss 0.18.35 spells them, and the
groups bei's rules reason about. Values are plain strings (Literal types), so `str(value)` and
comparisons with string constants behave the obvious way everywhere.
"""

from __future__ import annotations

from typing import Literal, get_args

BaseModelName = Literal[
    "encoder",
    "encoder_bert",
    "decoder",
    "palmyra",
    "qwen",
    "llama",
    "mistral",
    "deepseek",
    "whisper",
]
QuantizationType = Literal[
    "no_quant",
    "weights_int8",
    "weights_kv_int8",
    "weights_int4",
    "weights_int4_kv_int8",
    "smooth_quant",
    "fp8",
    "fp8_kv",
    "fp8_mlp_only",
    "fp4",
    "fp4_kv",
    "fp4_mlp_only",
]
CheckpointSource = Literal["HF", "GCS", "S3", "AZURE", "LOCAL", "REMOTE_URL", "BASETEN_TRAINING"]
Route = Literal["/v1/embeddings", "/v1/systemone", "/rerank", "/predict", "/predict_tokens"]
BatchSchedulerPolicy = Literal["max_utilization", "guaranteed_no_evict"]
SpeculativeDecodingMode = Literal["DRAFT_TOKENS_EXTERNAL", "LOOKAHEAD_DECODING"]

BASE_MODELS: tuple[str, ...] = get_args(BaseModelName)
QUANTIZATION_TYPES: tuple[str, ...] = get_args(QuantizationType)
CHECKPOINT_SOURCES: tuple[str, ...] = get_args(CheckpointSource)
ROUTES: tuple[str, ...] = get_args(Route)

# The base models bei serves: BEI (causal, may quantize) and BEI-Bert (bidirectional).
ENCODER_MODELS: frozenset[str] = frozenset({"encoder", "encoder_bert"})


def is_encoder(base_model: object) -> bool:
    """Whether a raw (not yet validated, maybe not even a string) base_model is an encoder."""
    return isinstance(base_model, str) and base_model in ENCODER_MODELS


# Truss renamed these to `decoder` and rejects them.
LEGACY_DECODER_NAMES: frozenset[str] = frozenset(
    {"palmyra", "qwen", "llama", "mistral", "deepseek"}
)

FP8_QUANTIZATIONS: frozenset[str] = frozenset({"fp8", "fp8_kv", "fp8_mlp_only"})
FP4_QUANTIZATIONS: frozenset[str] = frozenset({"fp4", "fp4_kv", "fp4_mlp_only"})
KV_CACHE_QUANTIZATIONS: frozenset[str] = frozenset({"fp8_kv", "fp4_kv", "weights_kv_int8"})
# Pre-FP8 TensorRT-LLM formats; Truss parses them, Baseten rejects them on push.
LEGACY_QUANTIZATIONS: frozenset[str] = frozenset(
    {"weights_int8", "weights_kv_int8", "weights_int4", "weights_int4_kv_int8", "smooth_quant"}
)

# max_num_tokens when the config does not set it (Truss 0.18.35 / BEI docs).
DEFAULT_MAX_NUM_TOKENS: dict[str, int] = {"encoder": 16384, "encoder_bert": 8192}
TRUSS_DEFAULT_MAX_NUM_TOKENS = 8192
# BEI's documented range; outside it (but inside Truss's bounds) bei warns.
DOCUMENTED_MAX_NUM_TOKENS = (64, 131072)
MAX_NUM_TOKENS_BOUND = 1048576
