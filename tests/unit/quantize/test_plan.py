"""The quantization plan table: every Truss quantization type x base model x hardware class."""

from __future__ import annotations

import pytest

from bei_cli.config.accelerators import ACCELERATOR_TYPES
from bei_cli.config.choices import KV_CACHE_QUANTIZATIONS, QUANTIZATION_TYPES
from bei_cli.hardware import COMPUTE_CAPABILITY, GPUS
from bei_cli.quantize import IMPLEMENTED, RULES, Hardware, QuantPlan, plan_quantization

HARDWARE = {
    "cpu": Hardware.cpu(),
    **{name: Hardware.from_accelerator(name) for name in ("T4", "A100", "L4")},
    **{name: Hardware.from_accelerator(name) for name in ("H100", "B200")},
}
EVERYWHERE = frozenset(HARDWARE)
FP8_TARGETS = frozenset({"cpu", "L4", "H100", "B200"})  # CPU: calibrate, serve dequantized
# The expected verdicts, written independently of the plan's rule table.
SUPPORTED_ON: dict[str, frozenset[str]] = {
    "no_quant": EVERYWHERE,
    "fp8": FP8_TARGETS,
    "fp8_kv": FP8_TARGETS,
    "fp8_mlp_only": FP8_TARGETS,
    "fp4": frozenset({"B200"}),
    "fp4_kv": frozenset({"B200"}),
    "fp4_mlp_only": frozenset({"B200"}),
    "weights_int8": EVERYWHERE,
    "weights_kv_int8": EVERYWHERE,
    "weights_int4": frozenset(),
    "weights_int4_kv_int8": frozenset(),
    "smooth_quant": frozenset(),
}
# What this release builds for an embedder, written independently of plan.IMPLEMENTED.
BUILT_ON: dict[str, frozenset[str]] = {
    "no_quant": EVERYWHERE,
    "weights_int8": frozenset({"cpu"}),
    "weights_kv_int8": frozenset({"cpu"}),
    "fp8": FP8_TARGETS,
    "fp8_kv": FP8_TARGETS,
    "fp8_mlp_only": FP8_TARGETS,
    "fp4": frozenset({"B200"}),  # NVFP4 for Blackwell only
    "fp4_kv": frozenset({"B200"}),
    "fp4_mlp_only": frozenset({"B200"}),
}
# Words the reason of a refusal must contain, by (quantization family, hardware).
REFUSAL_WORDS = {
    ("fp8", "T4"): ("8.9", "Ada/Hopper", "T4 has 7.5"),
    ("fp8", "A100"): ("8.9", "Ada/Hopper", "A100 has 8.0"),
    ("fp4", "cpu"): ("10.0", "Blackwell", "CPU"),
    ("fp4", "T4"): ("10.0", "Blackwell", "T4 has 7.5"),
    ("fp4", "L4"): ("10.0", "Blackwell", "L4 has 8.9"),
    ("fp4", "H100"): ("10.0", "Blackwell", "H100 has 9.0"),
}
CASES = [
    (quant, base, hw)
    for quant in QUANTIZATION_TYPES
    for base in ("encoder", "encoder_bert")
    for hw in HARDWARE
]


def plan_for(quant: str, base: str, hw: str, task: str = "embed") -> QuantPlan:
    return plan_quantization(quant, base_model=base, task=task, hardware=HARDWARE[hw])


@pytest.mark.parametrize(("quant", "base", "hw"), CASES)
def test_every_cell_of_the_table(quant: str, base: str, hw: str) -> None:
    plan = plan_for(quant, base, hw)
    assert plan.quantization == quant
    assert plan.supported == (hw in SUPPORTED_ON[quant])
    assert plan.implemented == (hw in BUILT_ON.get(quant, frozenset()))
    assert plan.kv == "none" and plan.reason
    kv_note = any("no KV cache" in note for note in plan.notes)
    assert kv_note == (quant in KV_CACHE_QUANTIZATIONS)
    bert_note = any("BEI-Bert does not quantize" in note for note in plan.notes)
    assert bert_note == (base == "encoder_bert" and plan.supported and quant != "no_quant")
    if not plan.supported:
        assert (plan.weights, plan.activations, plan.engine) == (None, None, "none")
        assert plan.accuracy_floor is None


@pytest.mark.parametrize(("family", "hw"), sorted(REFUSAL_WORDS))
def test_refusals_say_what_the_hardware_lacks(family: str, hw: str) -> None:
    for quant in (family, f"{family}_kv", f"{family}_mlp_only"):
        plan = plan_for(quant, "encoder", hw)
        assert not plan.supported
        for word in REFUSAL_WORDS[(family, hw)]:
            assert word in plan.reason, (quant, plan.reason)


@pytest.mark.parametrize("quant", ["weights_int4", "weights_int4_kv_int8", "smooth_quant"])
def test_legacy_decoder_formats_are_refused_everywhere_with_an_alternative(quant: str) -> None:
    for hw in HARDWARE:
        reason = plan_for(quant, "encoder", hw).reason
        assert quant in reason and "legacy" in reason and "weights_int8" in reason


@pytest.mark.parametrize(
    ("hw", "precision"), [("cpu", "fp32"), ("T4", "fp16"), ("A100", "bf16"), ("H100", "bf16")]
)
def test_no_quant_runs_the_targets_default_precision(hw: str, precision: str) -> None:
    plan = plan_for("no_quant", "encoder", hw)
    assert (plan.weights, plan.activations, plan.layers, plan.engine) == (
        precision,
        precision,
        "none",
        "torch",
    )
    assert plan.accuracy_floor == (None if precision == "fp32" else 0.999)


def test_fp8_on_an_fp8_gpu_quantizes_weights_and_activations() -> None:
    plan = plan_for("fp8", "encoder", "H100")
    assert (plan.weights, plan.activations, plan.layers, plan.engine) == (
        "fp8",
        "fp8",
        "all",
        "torch",
    )
    assert plan.accuracy_floor == 0.99
    assert plan_for("fp8_mlp_only", "encoder", "L4").layers == "mlp_only"
    assert plan_for("fp4_mlp_only", "encoder", "B200").layers == "mlp_only"
    assert plan_for("fp4", "encoder", "B200").accuracy_floor == 0.98


def test_fp8_on_cpu_stores_fp8_weights_and_warns_that_serving_dequantizes() -> None:
    plan = plan_for("fp8", "encoder", "cpu")
    assert (plan.weights, plan.activations, plan.supported) == ("fp8", "fp32", True)
    assert "calibration runs on the CPU" in plan.reason
    assert any("dequantizes" in note for note in plan.notes)


def test_weights_int8_is_onnx_dynamic_int8_on_cpu_and_weight_only_on_cuda() -> None:
    cpu = plan_for("weights_int8", "encoder", "cpu")
    assert (cpu.weights, cpu.activations, cpu.engine) == ("int8", "fp32", "onnxruntime")
    assert "ONNX Runtime" in cpu.reason
    gpu = plan_for("weights_int8", "encoder", "A100")
    assert (gpu.weights, gpu.activations, gpu.engine) == ("int8", "bf16", "torch")


@pytest.mark.parametrize(
    ("task", "metric"),
    [
        ("embed", "cosine"),
        ("rerank", "score agreement"),
        ("classify", "score agreement"),
        ("ner", "label agreement"),
    ],
)
def test_the_accuracy_gate_metric_follows_the_task(task: str, metric: str) -> None:
    assert plan_for("fp8", "encoder_bert", "H100", task=task).accuracy_metric == metric


@pytest.mark.parametrize("task", ["classify", "rerank", "ner"])
def test_weights_int8_is_built_for_embedders_only(task: str) -> None:
    plan = plan_for("weights_int8", "encoder_bert", "cpu", task=task)
    assert plan.supported and not plan.implemented
    assert any(f"for embed models only, not {task} models" in note for note in plan.notes)
    assert plan_for("no_quant", "encoder_bert", "cpu", task=task).implemented


def test_every_truss_quantization_type_has_a_rule() -> None:
    assert set(RULES) == set(QUANTIZATION_TYPES)
    assert set(IMPLEMENTED) <= set(RULES)
    assert IMPLEMENTED["weights_int8"] == {"cpu": frozenset({"embed"})}
    with pytest.raises(ValueError, match="unknown quantization_type"):
        plan_for("int2", "encoder", "cpu")


def test_hardware_from_every_truss_accelerator() -> None:
    # The config's Literal of accelerator names and the one hardware table name the same GPUs.
    assert set(ACCELERATOR_TYPES) == set(GPUS)
    for name in ACCELERATOR_TYPES:
        hardware = Hardware.from_accelerator(name)
        assert (hardware.kind, hardware.name) == ("cuda", name)
        assert hardware.compute_capability == COMPUTE_CAPABILITY[name]
    assert Hardware.from_accelerator(None, cpu_bf16=True) == Hardware.cpu(bf16=True)
    assert str(HARDWARE["H100"]) == "H100 (CUDA compute capability 9.0)"
    with pytest.raises(ValueError, match="unknown accelerator"):
        Hardware.from_accelerator("h100")


def test_a_cpu_with_native_bf16_is_noted_not_assumed() -> None:
    plan = plan_quantization(
        "no_quant", base_model="encoder", task="embed", hardware=Hardware.cpu(bf16=True)
    )
    assert plan.weights == "fp32"
    assert any("native bf16" in note for note in plan.notes)
