"""Cross-field rules on a whole config: pure functions of the validated config.

ERROR_RULES run in Truss's order (`trt_llm_common_validation`, then `trt_llm_validation_v1`),
followed by bei's own verdicts; every violation is reported, each at the key the user should
change. WARNING_RULES are bei's deliberate differences from Truss and
hints about keys that do not mean what they seem to (reference/truss-config.md, section 4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bei_cli.config.base import Problem
from bei_cli.config.choices import (
    DOCUMENTED_MAX_NUM_TOKENS,
    FP4_QUANTIZATIONS,
    FP8_QUANTIZATIONS,
    KV_CACHE_QUANTIZATIONS,
    LEGACY_DECODER_NAMES,
    LEGACY_QUANTIZATIONS,
)
from bei_cli.hardware import (
    FP4_MIN_CAPABILITY,
    FP8_MIN_CAPABILITY,
    TRT_LLM_MIN_CAPABILITY,
    gpus_with,
)

if TYPE_CHECKING:
    from bei_cli.config.schema import BeiConfig

ENCODER_HINT = (
    "bei serves embedding, reranking, classification and NER models: set "
    "trt_llm.build.base_model to encoder (causal architectures such as Qwen/Llama/Mistral) or "
    "encoder_bert (BERT-family, bidirectional)."
)
RESERVED_ENV_VARS = ("HOSTNAME", "PORT")

BASE_MODEL = ("trt_llm", "build", "base_model")
QUANTIZATION = ("trt_llm", "build", "quantization_type")


def legacy_base_model(config: BeiConfig) -> list[Problem]:
    """Legacy base models (palmyra, qwen, llama, mistral, deepseek, whisper) are errors (Truss)."""
    name = config.trt_llm.build.base_model
    if name in LEGACY_DECODER_NAMES:
        message = (
            f"`{name}` has been renamed to `decoder` in Truss (the decoder detects the "
            "architecture from the checkpoint)"
        )
    elif name == "whisper":
        message = "Whisper models moved to Truss Chains; bei does not serve speech models"
    else:
        return []
    return [
        Problem(BASE_MODEL, message, name, hint=ENCODER_HINT, allowed=("encoder", "encoder_bert"))
    ]


def gpu_generation(config: BeiConfig) -> list[Problem]:
    """T4 and V100 (compute capability < 8.0) run only `encoder_bert` (Truss)."""
    spec = config.resources.accelerator
    base_model = config.trt_llm.build.base_model
    if spec is None or spec.compute_capability >= TRT_LLM_MIN_CAPABILITY:
        return []
    if base_model == "encoder_bert":
        return []
    return [
        Problem(
            ("resources", "accelerator"),
            f"{spec.type} (compute capability {_cc(spec.compute_capability)}) runs only "
            f"encoder_bert models; base_model {base_model} needs compute capability >= 8.0",
            str(spec),
            hint="Use base_model: encoder_bert for a BERT-family model, or a newer GPU "
            "(A10G, L4, A100, H100, ...).",
        )
    ]


def quantization_hardware(config: BeiConfig) -> list[Problem]:
    """FP8 needs compute capability >= 8.9, FP4 >= 10.0, for every base model (Truss, and bei also
    for encoder_bert on T4/V100, which Truss lets through)."""
    spec = config.resources.accelerator
    quant = config.trt_llm.build.quantization_type
    if spec is None:
        return []
    if quant in FP8_QUANTIZATIONS and not spec.supports_fp8:
        kind, needed = "FP8", FP8_MIN_CAPABILITY
    elif quant in FP4_QUANTIZATIONS and not spec.supports_fp4:
        kind, needed = "FP4", FP4_MIN_CAPABILITY
    else:
        return []
    capable = ", ".join(gpus_with(needed))
    return [
        Problem(
            QUANTIZATION,
            f"{kind} quantization needs compute capability >= {_cc(needed)} ({capable}); "
            f"{spec.type} has {_cc(spec.compute_capability)}",
            quant,
            hint=f"Use quantization_type: no_quant on {spec.type}, or request a GPU that "
            f"runs {kind} ({capable}).",
        )
    ]


def decoder_world_size(config: BeiConfig) -> list[Problem]:
    """Decoders: tensor x pipeline x sequence parallel counts equal the GPU count (Truss)."""
    build = config.trt_llm.build
    if build.base_model != "decoder":
        return []
    world = build.tensor_parallel_count * build.pipeline_parallel_count
    world *= build.sequence_parallel_count
    gpus = config.resources.accelerator.count if config.resources.accelerator else 0
    if world == gpus:
        return []
    return [
        Problem(
            ("trt_llm", "build", "tensor_parallel_count"),
            f"tensor x pipeline x sequence parallel counts ({world}) must equal the GPU count "
            f"({gpus}) for decoders",
            build.tensor_parallel_count,
        )
    ]


def decoder_not_served(config: BeiConfig) -> list[Problem]:
    """`decoder` is valid Truss, but bei serves only encoder and encoder_bert."""
    if config.trt_llm.build.base_model != "decoder":
        return []
    return [
        Problem(
            BASE_MODEL,
            "valid Truss, but `decoder` is text generation (Truss's Briton server); bei "
            "serves only encoder (BEI) and encoder_bert (BEI-Bert) models",
            "decoder",
            hint=ENCODER_HINT,
            allowed=("encoder", "encoder_bert"),
        )
    ]


def legacy_quantization(config: BeiConfig) -> list[str]:
    """Warn: legacy weights_* / smooth_quant formats are decided by the build plan."""
    quant = config.trt_llm.build.quantization_type
    if quant not in LEGACY_QUANTIZATIONS:
        return []
    return [
        f"trt_llm.build.quantization_type {quant} is a legacy TensorRT-LLM format that Baseten "
        "rejects on push; bei's build plan maps it to what the target hardware runs, or stops "
        "with an error."
    ]


def kv_cache_quantization(config: BeiConfig) -> list[str]:
    """Warn: *_kv quantization has no KV cache to act on in an encoder."""
    quant = config.trt_llm.build.quantization_type
    if quant not in KV_CACHE_QUANTIZATIONS:
        return []
    return [
        f"trt_llm.build.quantization_type {quant} also quantizes the KV cache, which encoder "
        "models do not have (Truss calls it alpha); only the weight quantization applies."
    ]


def bert_quantization(config: BeiConfig) -> list[str]:
    """Warn: encoder_bert + fp8/fp4 is bei-only (BEI-Bert cannot quantize); accuracy is checked."""
    build = config.trt_llm.build
    if build.base_model != "encoder_bert" or build.quantization_type == "no_quant":
        return []
    return [
        f"encoder_bert with {build.quantization_type}: BEI-Bert does not quantize, bei does; "
        "the build compares the quantized model against the 16-bit one and reports the "
        "accuracy."
    ]


def quantization_without_gpu(config: BeiConfig) -> list[str]:
    """Warn: quantization without a GPU; the build plan says what runs on CPU."""
    quant = config.trt_llm.build.quantization_type
    if config.resources.accelerator is not None or quant == "no_quant":
        return []
    return [
        f"trt_llm.build.quantization_type is {quant} but no GPU is requested "
        "(resources.accelerator is unset): FP8/FP4 kernels need a GPU, so on CPU bei's build "
        "plan decides what runs instead and reports it."
    ]


def max_num_tokens_range(config: BeiConfig) -> list[str]:
    """Warn: max_num_tokens outside BEI's documented 64..131072 or not a multiple of 64."""
    tokens = config.trt_llm.build.max_num_tokens
    low, high = DOCUMENTED_MAX_NUM_TOKENS
    if low <= tokens <= high and tokens % 64 == 0:
        return []
    return [
        f"trt_llm.build.max_num_tokens {tokens} is outside BEI's documented range "
        f"({low}..{high}, a multiple of 64); Truss and bei accept it, but BEI may not."
    ]


def ner_route_on_encoder(config: BeiConfig) -> list[str]:
    """Warn: /predict_tokens with `encoder` (BEI serves NER only on encoder_bert)."""
    build = config.trt_llm.build
    if config.trt_llm.runtime.webserver_default_route != "/predict_tokens":
        return []
    if build.base_model != "encoder":
        return []
    return [
        "trt_llm.runtime.webserver_default_route /predict_tokens with base_model encoder: BEI "
        "serves NER only on encoder_bert; bei serves it if the checkpoint is a token "
        "classifier."
    ]


def undeclared_api_key_secret(config: BeiConfig) -> list[str]:
    """Warn: bei.api_key_secret should be declared under `secrets:`."""
    name = config.bei.api_key_secret
    if name is None or name in config.secrets:
        return []
    return [
        f"bei.api_key_secret {name!r} is not declared under `secrets:`; declare it "
        f"(`{name}: null`) so the deployment mounts it."
    ]


def reserved_environment_variables(config: BeiConfig) -> list[str]:
    """Warn: PORT and HOSTNAME are set by the platform."""
    reserved = [name for name in RESERVED_ENV_VARS if name in config.environment_variables]
    if not reserved:
        return []
    return [
        f"environment_variables {', '.join(reserved)} are set by the platform at runtime and "
        "will be overwritten."
    ]


def _cc(capability: tuple[int, int]) -> str:
    return f"{capability[0]}.{capability[1]}"


ERROR_RULES: tuple[Callable[[BeiConfig], list[Problem]], ...] = (
    legacy_base_model,
    gpu_generation,
    quantization_hardware,
    decoder_world_size,
    decoder_not_served,
)
WARNING_RULES: tuple[Callable[[BeiConfig], list[str]], ...] = (
    legacy_quantization,
    kv_cache_quantization,
    bert_quantization,
    quantization_without_gpu,
    max_num_tokens_range,
    ner_route_on_encoder,
    undeclared_api_key_secret,
    reserved_environment_variables,
)


def config_problems(config: BeiConfig) -> list[Problem]:
    return [problem for rule in ERROR_RULES for problem in rule(config)]


def config_warnings(config: BeiConfig) -> list[str]:
    return [message for rule in WARNING_RULES for message in rule(config)]
