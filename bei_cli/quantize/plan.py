"""The quantization plan: what runs for a `quantization_type` on a target, decided before any work.

Pure: plain values in (the Truss quantization name, base model, task, target hardware), a frozen
`QuantPlan` out. Every Truss quantization name is a row of `RULES`; the target's kind (CPU or
CUDA) picks how that row lands. Encoders have no KV cache, so the `*_kv` names quantize exactly
what their plain counterparts do. `implemented` says whether this bei release can build the plan;
the pipeline refuses plans it cannot build, with the plan's reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from bei_cli.hardware import FP4_MIN_CAPABILITY, FP8_MIN_CAPABILITY, Hardware, supports_bf16

Precision = Literal["fp32", "bf16", "fp16", "fp8", "fp4", "int8"]
Layers = Literal["none", "all", "mlp_only"]
# What a quantized row does on a CPU target: run natively, store low-precision weights and
# dequantize them to fp32 for compute, quantize with ONNX Runtime's dynamic int8, or refuse.
CpuMode = Literal["native", "dequantize", "onnx_int8", "refuse"]


KV_NOTE = (
    "KV-cache quantization means nothing for encoders (they have no KV cache); only the "
    "weight quantization applies."
)
BERT_NOTE = (
    "BEI-Bert does not quantize encoder_bert models; bei does, and the accuracy gate checks "
    "the result against fp32."
)

# The default accuracy floor of the gate, by the precision of the quantized weights. fp32 has no
# gate: it is the reference.
ACCURACY_FLOOR: dict[Precision, float | None] = {
    "fp32": None,
    "bf16": 0.999,
    "fp16": 0.999,
    "int8": 0.99,
    "fp8": 0.99,
    "fp4": 0.98,
}
ACCURACY_METRIC_BY_TASK: dict[str, str] = {
    "embed": "cosine",
    "rerank": "score agreement",
    "classify": "score agreement",
    "ner": "label agreement",
    "sparse_embed": "cosine",
}


@dataclass(frozen=True)
class QuantPlan:
    quantization: str  # the requested Truss quantization_type
    hardware: str  # the target, in words
    weights: Precision | None  # None: nothing runs (unsupported)
    activations: Precision | None
    kv: Literal["none"]  # encoders have no KV cache
    layers: Layers  # which linear layers hold quantized weights
    engine: str  # "torch", "onnxruntime", or "none" when unsupported
    supported: bool  # the target can run it
    implemented: bool  # this bei release can build it
    reason: str
    notes: tuple[str, ...] = ()  # fallbacks and caveats the user should see
    accuracy_metric: str = "cosine"
    accuracy_floor: float | None = None  # the gate's default floor; None: no gate (fp32)
    # CUDA: the precision of the parts not quantized, then the fallback if the first fails its
    # accuracy gate (BEI-Bert fp16 -> bf16). Empty on a CPU, whose engines are measured instead.
    compute: tuple[Precision, ...] = ()


@dataclass(frozen=True)
class QuantRule:
    """One Truss quantization name, as encoders read it."""

    description: str
    weights: Precision | None = None  # None: the target's 16/32-bit default
    activations: Precision | None = None
    layers: Layers = "all"
    min_capability: tuple[int, int] | None = None  # on CUDA
    cpu: CpuMode = "native"
    kv_variant: bool = False
    refused: str | None = None  # why no target runs it


FP8 = QuantRule(
    "FP8 (E4M3) weights and activations with calibrated per-tensor scales",
    weights="fp8",
    activations="fp8",
    min_capability=FP8_MIN_CAPABILITY,
    cpu="dequantize",
)
FP4 = QuantRule(
    "NVFP4 weights and activations with calibrated block scales",
    weights="fp4",
    activations="fp4",
    min_capability=FP4_MIN_CAPABILITY,
    cpu="refuse",
)
WEIGHTS_INT8 = QuantRule(
    "int8 weight-only quantization (activations stay in the target's default precision)",
    weights="int8",
    cpu="onnx_int8",
)
INT4_REASON = (
    "{name} is a legacy TensorRT-LLM decoder format (Baseten rejects it on push) with no "
    "encoder implementation; use weights_int8, fp8 (Ada/Hopper or newer) or fp4 (Blackwell)."
)

RULES: dict[str, QuantRule] = {
    "no_quant": QuantRule("no quantization: 16/32-bit weights", layers="none"),
    "fp8": FP8,
    "fp8_kv": replace(FP8, kv_variant=True),
    "fp8_mlp_only": replace(
        FP8, description=FP8.description + ", MLP layers only", layers="mlp_only"
    ),
    "fp4": FP4,
    "fp4_kv": replace(FP4, kv_variant=True),
    "fp4_mlp_only": replace(
        FP4, description=FP4.description + ", MLP layers only", layers="mlp_only"
    ),
    "weights_int8": WEIGHTS_INT8,
    "weights_kv_int8": replace(WEIGHTS_INT8, kv_variant=True),
    "weights_int4": QuantRule("", refused=INT4_REASON.format(name="weights_int4")),
    "weights_int4_kv_int8": QuantRule("", refused=INT4_REASON.format(name="weights_int4_kv_int8")),
    "smooth_quant": QuantRule(
        "",
        refused="smooth_quant (int8 weights and activations with SmoothQuant scaling) is a legacy "
        "TensorRT-LLM decoder format with no encoder implementation; use weights_int8 or fp8.",
    ),
}

# Families whose activations leave float16's range (EmbeddingGemma is published bf16/fp32-only).
FP16_UNSAFE_MODEL_TYPES = frozenset({"gemma", "gemma2", "gemma3", "gemma3_text"})

ALL_TASKS = frozenset(ACCURACY_METRIC_BY_TASK)
INT8_TASKS = frozenset({"embed"})  # the ONNX Runtime engine serves embedders only
# What this release can build: quantization type -> target kind -> tasks. Everything else is
# planned, and refused by the pipeline until its implementation lands.
IMPLEMENTED: dict[str, dict[str, frozenset[str]]] = {
    "no_quant": {"cpu": ALL_TASKS, "cuda": ALL_TASKS},
    "weights_int8": {"cpu": INT8_TASKS},
    "weights_kv_int8": {"cpu": INT8_TASKS},
    # Calibrated on the build machine's CPU; served dequantized on a CPU, FP8 GEMMs on cc >= 8.9.
    "fp8": {"cpu": ALL_TASKS, "cuda": ALL_TASKS},
    "fp8_kv": {"cpu": ALL_TASKS, "cuda": ALL_TASKS},
    "fp8_mlp_only": {"cpu": ALL_TASKS, "cuda": ALL_TASKS},
    # NVFP4 for Blackwell (the cc >= 10.0 check refuses older GPUs, the CPU landing refuses CPUs):
    # calibrated on the build machine's CPU, judged by emulating the FP4 GEMMs there, served
    # dequantized off Blackwell and with FP4 GEMMs on it (that path untested until a B200 runs it).
    "fp4": {"cuda": ALL_TASKS},
    "fp4_kv": {"cuda": ALL_TASKS},
    "fp4_mlp_only": {"cuda": ALL_TASKS},
}


def is_implemented(quantization_type: str, task: str, hardware: Hardware) -> bool:
    return task in IMPLEMENTED.get(quantization_type, {}).get(hardware.kind, frozenset())


def plan_quantization(
    quantization_type: str,
    *,
    base_model: str,
    task: str,
    hardware: Hardware,
    checkpoint_needs_bf16: bool = False,
) -> QuantPlan:
    """What `quantization_type` means for an encoder of `task` on `hardware`, or why it cannot.
    `checkpoint_needs_bf16`: see `needs_bf16` (it moves BEI-Bert on a GPU from fp16 to bf16)."""
    if quantization_type not in RULES:
        raise ValueError(f"unknown quantization_type {quantization_type!r}")
    rule = RULES[quantization_type]
    plan = LANDING[hardware.kind](rule, hardware, quantization_type)
    if hardware.kind == "cuda" and plan.supported:
        plan = _sixteen_bit(plan, hardware, base_model, checkpoint_needs_bf16)
    notes = list(plan.notes)
    if rule.kv_variant:
        notes.insert(0, KV_NOTE)
    if plan.supported and base_model == "encoder_bert" and quantization_type != "no_quant":
        notes.append(BERT_NOTE)
    implemented = plan.supported and is_implemented(quantization_type, task, hardware)
    built_for = IMPLEMENTED.get(quantization_type, {}).get(hardware.kind)
    if plan.supported and not implemented and built_for:
        notes.append(
            f"This release builds {quantization_type} on {hardware.kind.upper()} for "
            f"{', '.join(sorted(built_for))} models only, not {task} models."
        )
    return replace(
        plan,
        implemented=implemented,
        notes=tuple(notes),
        accuracy_metric=ACCURACY_METRIC_BY_TASK[task],
        accuracy_floor=ACCURACY_FLOOR[plan.weights] if plan.weights else None,
    )


def cuda_precisions(
    base_model: str, capability: tuple[int, int], *, needs_bf16: bool
) -> tuple[Precision, ...]:
    """BEI's 16-bit rule on a GPU, first the precision it runs, then the build's fallback should
    the first fail its accuracy gate: BEI-Bert (encoder_bert) runs fp16, bf16 where the checkpoint
    needs bf16's range; BEI (encoder) runs bf16. Without bf16 tensor cores (Turing, Volta) a
    checkpoint that needs bf16's range runs fp32 rather than overflow in fp16."""
    bf16 = supports_bf16(capability)
    if needs_bf16:
        return ("bf16",) if bf16 else ("fp32",)
    if base_model == "encoder_bert":
        return ("fp16", "bf16") if bf16 else ("fp16", "fp32")
    return ("bf16",) if bf16 else ("fp16", "fp32")


def needs_bf16(model_type: str, checkpoint_dtype: str | None) -> bool:
    """A checkpoint saved in bfloat16, or a family whose activations leave float16's range."""
    return checkpoint_dtype == "bfloat16" or model_type in FP16_UNSAFE_MODEL_TYPES


def _on_cuda(rule: QuantRule, hardware: Hardware, name: str) -> QuantPlan:
    capability = hardware.compute_capability or (0, 0)
    if rule.refused:
        return _refused(name, hardware, rule.refused)
    if rule.min_capability and capability < rule.min_capability:
        return _refused(name, hardware, _too_old(rule, hardware, name))
    return QuantPlan(
        quantization=name,
        hardware=str(hardware),
        weights=rule.weights,  # None: the 16-bit precision, set by _sixteen_bit
        activations=rule.activations,
        kv="none",
        layers=rule.layers,
        engine="torch",
        supported=True,
        implemented=False,
        reason=f"{rule.description}; target {hardware}.",
    )


def _sixteen_bit(plan: QuantPlan, hardware: Hardware, base_model: str, bf16: bool) -> QuantPlan:
    """A supported CUDA plan's 16-bit parts: everything for no_quant, the rest of the model (the
    parts a quantized row leaves unquantized) otherwise."""
    precisions = cuda_precisions(base_model, hardware.compute_capability or (0, 0), needs_bf16=bf16)
    if plan.weights is not None:  # fp8 / fp4 need cc >= 8.9, which all have bf16
        precisions = ("bf16",)
    first = precisions[0]
    notes = list(plan.notes)
    if first == "fp32":
        notes.append(
            f"{hardware.name} has no bf16 compute and this checkpoint needs bf16's range: it "
            "runs fp32, not fp16."
        )
    elif first == "fp16" and not supports_bf16(hardware.compute_capability or (0, 0)):
        notes.append(f"{hardware.name} has no bf16 compute; 16-bit parts run in fp16.")
    if len(precisions) > 1:
        notes.append(
            f"{first} first; should {first} fail the smoke test or the accuracy gate, the build "
            f"keeps {precisions[1]} instead."
        )
    return replace(
        plan,
        weights=plan.weights or first,
        activations=plan.activations or first,
        compute=precisions,
        notes=tuple(notes),
    )


def _on_cpu(rule: QuantRule, hardware: Hardware, name: str) -> QuantPlan:
    if rule.refused:
        return _refused(name, hardware, rule.refused)
    return CPU_LANDING[rule.cpu](rule, hardware, name)


def _cpu_native(rule: QuantRule, hardware: Hardware, name: str) -> QuantPlan:
    notes: tuple[str, ...] = ()
    if hardware.cpu_bf16:
        notes = ("This CPU has native bf16; a bf16 engine is chosen only if measured faster.",)
    return QuantPlan(
        quantization=name,
        hardware=str(hardware),
        weights="fp32",
        activations="fp32",
        kv="none",
        layers=rule.layers,
        engine="torch",
        supported=True,
        implemented=False,
        reason=f"{rule.description}; the CPU runs fp32.",
        notes=notes,
    )


def _cpu_dequantize(rule: QuantRule, hardware: Hardware, name: str) -> QuantPlan:
    return replace(
        _cpu_native(rule, hardware, name),
        weights=rule.weights,
        reason=f"{rule.description}; calibration runs on the CPU and the artifact stores "
        f"{rule.weights} weights for an FP8 GPU fleet.",
        notes=(
            "A CPU has no FP8 matrix units: serving this artifact on a CPU dequantizes the "
            "weights to fp32 (smaller artifact, no speed-up).",
        ),
    )


def _cpu_onnx_int8(rule: QuantRule, hardware: Hardware, name: str) -> QuantPlan:
    return replace(
        _cpu_native(rule, hardware, name),
        weights="int8",
        engine="onnxruntime",
        reason=f"{rule.description}: dynamic int8 quantization with ONNX Runtime on the CPU.",
        notes=(),
    )


def _cpu_refuse(rule: QuantRule, hardware: Hardware, name: str) -> QuantPlan:
    return _refused(
        name,
        hardware,
        f"{name} ({rule.description}) needs CUDA compute capability >= "
        f"{_cc(rule.min_capability or FP4_MIN_CAPABILITY)} (Blackwell: B200, B300, GB300, "
        "RTX_PRO_6000, B10); a CPU has no FP4 units to serve NVFP4. Build for the Blackwell "
        "target instead (resources.accelerator: B200, or bei build --target B200): the build "
        "calibrates on this CPU.",
    )


def _refused(name: str, hardware: Hardware, reason: str) -> QuantPlan:
    return QuantPlan(
        quantization=name,
        hardware=str(hardware),
        weights=None,
        activations=None,
        kv="none",
        layers="none",
        engine="none",
        supported=False,
        implemented=False,
        reason=reason,
    )


def _too_old(rule: QuantRule, hardware: Hardware, name: str) -> str:
    needed = rule.min_capability or (0, 0)
    family = {FP8_MIN_CAPABILITY: "Ada/Hopper or newer", FP4_MIN_CAPABILITY: "Blackwell"}[needed]
    return (
        f"{name} ({rule.description}) needs CUDA compute capability >= {_cc(needed)} "
        f"({family}); "
        f"{hardware.name} has {_cc(hardware.compute_capability or (0, 0))}."
    )


def _cc(capability: tuple[int, int]) -> str:
    return f"{capability[0]}.{capability[1]}"


Landing = Callable[[QuantRule, Hardware, str], QuantPlan]
LANDING: dict[str, Landing] = {"cpu": _on_cpu, "cuda": _on_cuda}
CPU_LANDING: dict[CpuMode, Landing] = {
    "native": _cpu_native,
    "dequantize": _cpu_dequantize,
    "onnx_int8": _cpu_onnx_int8,
    "refuse": _cpu_refuse,
}
