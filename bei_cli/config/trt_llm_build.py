"""`trt_llm.build`: which model, which checkpoint, token budget, quantization.

Encoder-specific behaviour mirrors Truss 0.18.35: `max_num_tokens` defaults to 16384 for
`encoder` and 8192 for `encoder_bert` when unset; encoder engines are single-GPU, so tensor/
pipeline/sequence parallel counts above 1 are forced to 1 with a warning.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, ValidationInfo, field_validator, model_validator

from bei_cli.config.base import ConfigModel, Problem, ignored, ignored_factory, raise_problems, warn
from bei_cli.config.checkpoint_repository import CheckpointRepository
from bei_cli.config.choices import (
    DEFAULT_MAX_NUM_TOKENS,
    ENCODER_MODELS,
    MAX_NUM_TOKENS_BOUND,
    TRUSS_DEFAULT_MAX_NUM_TOKENS,
    BaseModelName,
    QuantizationType,
    is_encoder,
)
from bei_cli.config.speculator import Speculator

CALIBRATION_BOUNDS = (64, 16384)
PARALLEL_COUNTS = ("tensor_parallel_count", "pipeline_parallel_count", "sequence_parallel_count")
LoraName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_\-\.:]+$")]


class QuantizationConfig(ConfigModel):
    """Calibration for fp8/fp4 quantization."""

    calib_size: int = Field(
        default=1024,
        description="Calibration samples: 64..16384, a multiple of 64. More is slower and "
        "usually more accurate.",
    )
    calib_dataset: str = Field(
        default="abisee/cnn_dailymail",
        description="Hugging Face dataset used for calibration (train split, `text` column).",
    )
    calib_max_seq_length: int = Field(
        default=1536,
        description="Longest calibration sequence in tokens: 64..16384, a multiple of 64.",
    )

    @field_validator("calib_size", "calib_max_seq_length")
    @classmethod
    def _cuda_friendly(cls, value: int) -> int:
        low, high = CALIBRATION_BOUNDS
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        if value % 64:
            raise ValueError(f"must be a multiple of 64 (e.g. {max(low, value // 64 * 64)})")
        return value


class PluginConfiguration(ConfigModel):
    """TensorRT-LLM plugin switches. BEI docs: not required or supported for embeddings."""

    paged_kv_cache: bool = Field(default=True, description="Paged KV cache.")
    use_paged_context_fmha: bool = Field(
        default=True, description="Paged context FMHA; needs paged_kv_cache."
    )
    use_fp8_context_fmha: bool = Field(default=False, description="Has no effect (auto).")


class LoraConfiguration(ConfigModel):
    """LoRA limits (decoder models)."""

    max_lora_rank: int = Field(default=64, description="Largest LoRA rank.")
    lora_target_modules: list[str] = Field(default_factory=list, description="Target modules.")


class TrtLlmBuild(ConfigModel):
    """Engine build settings (`trt_llm.build`)."""

    base_model: BaseModelName = Field(
        default="decoder",
        description="encoder: BEI, for causal models (Qwen/Llama/Mistral/Gemma embedders, "
        "rerankers and classifiers), may quantize. encoder_bert: BEI-Bert, for bidirectional "
        "models (BERT, RoBERTa, XLM-R, ModernBERT, ...). bei serves only these two; decoder "
        "(text generation) and the legacy names (palmyra, qwen, llama, mistral, deepseek, "
        "whisper) are rejected.",
    )
    checkpoint_repository: CheckpointRepository = Field(
        description="Where the weights come from (required)."
    )
    max_num_tokens: int = Field(
        default=TRUSS_DEFAULT_MAX_NUM_TOKENS,
        json_schema_extra={"x-bei-default": "16384 (encoder), 8192 (encoder_bert)"},
        strict=True,
        gt=64,
        le=MAX_NUM_TOKENS_BOUND,
        description="Token budget of one forward pass (batch tokens); also caps the input "
        "length. Integer > 64 and <= 1048576. Unset: 16384 for encoder, 8192 for "
        "encoder_bert. BEI documents 64..131072 in multiples of 64; bei warns outside that.",
    )
    max_batch_size: int = Field(
        default=256, strict=True, ge=1, le=2048, description="Most requests in one batch (1..2048)."
    )
    max_seq_len: int | None = ignored(
        "Maximum sequence length; BEI engines take it from the model's config.json.",
        strict=True,
        ge=1,
        le=MAX_NUM_TOKENS_BOUND,
    )
    max_beam_width: int = ignored("Beam width; must be 1.", 1, strict=True, ge=1, le=1)
    max_prompt_embedding_table_size: int = ignored("Prompt-tuning table size.", 0)
    quantization_type: QuantizationType = Field(
        default="no_quant",
        description="no_quant: 16/32-bit weights. fp8 / fp8_mlp_only: FP8 weights (all "
        "linear layers / MLP only), needs an FP8 GPU (L4, L40S, H100, H200, Blackwell). fp4 / "
        "fp4_mlp_only: FP4, needs Blackwell (B200, B300, GB300, RTX_PRO_6000, B10). *_kv "
        "variants also quantize the KV cache (meaningless for encoders). weights_int8, "
        "weights_kv_int8, weights_int4, weights_int4_kv_int8, smooth_quant: legacy, rejected "
        "by Baseten on push.",
    )
    quantization_config: QuantizationConfig = Field(
        default_factory=QuantizationConfig, description="Calibration for fp8/fp4."
    )
    tensor_parallel_count: int = ignored(
        "Tensor parallelism; encoder engines run on 1 GPU (forced to 1).", 1, strict=True, ge=1
    )
    pipeline_parallel_count: int = ignored("Pipeline parallelism (forced to 1 for encoders).", 1)
    sequence_parallel_count: int = ignored("Sequence parallelism (forced to 1 for encoders).", 1)
    moe_expert_parallel_option: int = ignored("Expert parallelism of MoE decoders.", -1)
    plugin_configuration: PluginConfiguration = ignored_factory(
        "TensorRT-LLM plugin switches.", PluginConfiguration
    )
    num_builder_gpus: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        description="GPUs of the build machine the build may use (Baseten: its engine "
        "builder's). bei runs the smoke test and the accuracy gate of a GPU target on the build "
        "machine's first GPU where it has one (calibration runs on the CPU; no encoder bei serves "
        "needs more than one GPU to calibrate), so values above 1 are accepted and reported. On "
        "a build machine without a GPU it is ignored with a note: the target's arithmetic is "
        "emulated on the CPU. null: as many as needed (one).",
    )
    gather_all_token_logits: bool = ignored("Return logits of all tokens (decoders).", False)
    strongly_typed: bool = ignored("Build a strongly typed TensorRT engine.", False)
    speculator: Speculator | None = Field(
        default=None, description="Speculative decoding (decoders only; rejected by bei)."
    )
    lora_adapters: dict[LoraName, CheckpointRepository] | None = Field(
        default=None,
        description="Named LoRA adapters (decoders only; rejected by bei for encoders). Names "
        "match ^[a-zA-Z0-9_\\-\\.:]+$.",
    )
    lora_configuration: LoraConfiguration | None = ignored("LoRA limits (decoders).")
    skip_build_result: bool = ignored("v2 inference stack only: skip the engine build.", False)

    @model_validator(mode="before")
    @classmethod
    def _encoder_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or not is_encoder(data.get("base_model")):
            return data
        data = dict(data)
        data.setdefault("max_num_tokens", DEFAULT_MAX_NUM_TOKENS[data["base_model"]])
        for key in PARALLEL_COUNTS:
            value = data.get(key)
            if type(value) is int and value > 1:
                warn(
                    info,
                    f"trt_llm.build.{key} is {value}: encoder engines run on one GPU per "
                    "replica, so bei uses 1 (as Truss 0.18.35 does). Scale out with replicas.",
                )
                data[key] = 1
        return data

    @model_validator(mode="after")
    def _check_feature_combinations(self) -> TrtLlmBuild:
        raise_problems(type(self).__name__, self._problems())
        return self

    def _problems(self) -> list[Problem]:
        problems: list[Problem | None] = []
        plugins = self.plugin_configuration
        if plugins.use_paged_context_fmha and not plugins.paged_kv_cache:
            problems.append(
                Problem(
                    ("plugin_configuration", "use_paged_context_fmha"),
                    "paged context FMHA requires plugin_configuration.paged_kv_cache: true",
                    True,
                    hint="Remove plugin_configuration: BEI engines do not need it.",
                )
            )
        encoder = self.base_model in ENCODER_MODELS
        if self.speculator is not None:
            problems.append(self._speculator_problem(encoder))
        if encoder and self.lora_adapters:
            problems.append(
                Problem(
                    ("lora_adapters",),
                    "LoRA adapters are for decoder models; bei cannot apply them to "
                    f"{self.base_model} models",
                    sorted(self.lora_adapters),
                    hint="Merge the adapter into the checkpoint, or remove lora_adapters.",
                )
            )
        if not encoder:
            problems.extend(self._moe_problems())
        return [p for p in problems if p is not None]

    def _speculator_problem(self, encoder: bool) -> Problem | None:
        assert self.speculator is not None
        plugins = self.plugin_configuration
        if encoder:
            message = (
                f"speculative decoding is for text generation; {self.base_model} models "
                "generate no tokens"
            )
        elif not (plugins.paged_kv_cache and plugins.use_paged_context_fmha):
            message = (
                "KV cache block reuse (paged_kv_cache and use_paged_context_fmha) must be "
                "enabled for a speculative decoding target model"
            )
        elif self.speculator.speculative_decoding_mode == "DRAFT_TOKENS_EXTERNAL":
            message = "DRAFT_TOKENS_EXTERNAL speculation is discontinued; use LOOKAHEAD_DECODING"
        else:
            return None
        return Problem(("speculator",), message, None, hint="Remove trt_llm.build.speculator.")

    def _moe_problems(self) -> list[Problem]:
        option, tp = self.moe_expert_parallel_option, self.tensor_parallel_count
        if option == -1:
            return []
        if option <= 0:
            return [Problem(("moe_expert_parallel_option",), "must be positive or -1", option)]
        if option > tp:
            return [
                Problem(
                    ("moe_expert_parallel_option",),
                    f"cannot be greater than tensor_parallel_count ({tp})",
                    option,
                )
            ]
        return []
