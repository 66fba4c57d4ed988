"""Quantizers: what rewrites a staged artifact's model files for a `quantization_type`.

Each runs after the engine's own file writer (the ONNX graph exists before int8 rewrites it) and
before the accuracy gate, which judges every row of `QUANTIZERS` against fp32 torch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bei_cli.engine.artifact import ONNX_FILE
from bei_cli.engine.base import Engine
from bei_cli.engine.checkpoint_files import Progress
from bei_cli.engine.spec import ArtifactSpec
from bei_cli.errors import BuildError, UnsupportedModelError
from bei_cli.inspect.profile import ModelProfile

if TYPE_CHECKING:  # torch is imported only by the quantizers that use it (onnx builds run without)
    import torch


def quantize_onnx_int8(
    model_dir: Path, profile: ModelProfile, spec: ArtifactSpec, report: Progress
) -> None:
    from bei_cli.engine.onnx_export import quantize_int8

    if spec.engine != "onnx":
        raise BuildError(
            f"{spec.quantization} is built by the onnx engine, not {spec.engine}.",
            hint="Set `bei: {engine: onnx}` or leave it at auto.",
        )
    report("quantizing the ONNX graph to int8 (dynamic, per channel)")
    graph = model_dir / ONNX_FILE
    quantized = graph.with_name("model.int8.onnx")
    quantize_int8(graph, quantized)
    quantized.replace(graph)


def quantize_torch_fp8(
    model_dir: Path, profile: ModelProfile, spec: ArtifactSpec, report: Progress
) -> None:
    from bei_cli.engine.fp8_quantize import quantize_fp8

    _calibrate(quantize_fp8, model_dir, profile, spec, report)


def quantize_torch_fp4(
    model_dir: Path, profile: ModelProfile, spec: ArtifactSpec, report: Progress
) -> None:
    from bei_cli.engine.fp4_quantize import quantize_fp4

    _calibrate(quantize_fp4, model_dir, profile, spec, report)


def _calibrate(
    quantizer: Callable[..., None],
    model_dir: Path,
    profile: ModelProfile,
    spec: ArtifactSpec,
    report: Progress,
) -> None:
    from bei_cli.quantize.gate import calibration_texts

    _refuse_own_family(model_dir, spec)
    if spec.engine != "torch" or spec.quant_plan is None:
        raise BuildError(
            f"{spec.quantization} is built by the torch engine, not {spec.engine}.",
            hint="Set `bei: {engine: torch}` or leave it at auto.",
        )
    quantizer(
        model_dir,
        profile,
        spec.quant_plan,
        calibration_texts(),
        report,
        calib_size=spec.calib_size,
        calib_max_seq_length=spec.calib_max_seq_length,
    )


def _refuse_own_family(model_dir: Path, spec: ArtifactSpec) -> None:
    """bei's own modules (engine.families.own) have no quantized compute: calibrating them would
    fail halfway, and casting their weights would not be the model."""
    from bei_cli.engine.families.own import own_family_loader

    if own_family_loader(model_dir) is not None:
        model_type = json.loads((model_dir / "config.json").read_text()).get("model_type")
        raise UnsupportedModelError(
            f"{spec.quantization} is not available for {model_type}: bei runs this family with "
            "its own module, which has no quantized (FP8 / NVFP4) compute.",
            param="trt_llm.build.quantization_type",
            hint="Build it without quantization (no_quant; float32, float16 or bfloat16).",
        )


# manifest quantization -> what rewrites the staged model files; runs after the engine's writer.
# Every row is gated for accuracy against fp32 torch before the artifact is kept.
Quantizer = Callable[[Path, ModelProfile, ArtifactSpec, Progress], None]
QUANTIZERS: dict[str, Quantizer] = {
    "weights_int8": quantize_onnx_int8,
    "weights_kv_int8": quantize_onnx_int8,  # encoders have no KV cache: the same weights
    "fp8": quantize_torch_fp8,
    "fp8_kv": quantize_torch_fp8,  # no KV cache in an encoder: the same as fp8
    "fp8_mlp_only": quantize_torch_fp8,  # the plan's layers say which Linears
    "fp4": quantize_torch_fp4,  # NVFP4, for Blackwell targets only (the plan refuses others)
    "fp4_kv": quantize_torch_fp4,
    "fp4_mlp_only": quantize_torch_fp4,
}


def quantize(model_dir: Path, profile: ModelProfile, spec: ArtifactSpec, report: Progress) -> None:
    if spec.quantization == "no_quant":
        return
    quantizer = QUANTIZERS.get(spec.quantization)
    if quantizer is None:
        raise BuildError(
            f"no quantizer for {spec.quantization} in this bei release.",
            hint=f"Use no_quant or one of: {', '.join(sorted(QUANTIZERS))}.",
        )
    quantizer(model_dir, profile, spec, report)


def as_the_target_computes(
    engine: Engine, model_dir: Path, spec: ArtifactSpec, report: Progress
) -> Engine:
    """The engine the accuracy gate judges: the arithmetic the target runs. An FP8 or NVFP4
    artifact for a GPU that has those units runs low-precision GEMMs with quantized activations,
    which cost more accuracy than the dequantized weights a CPU runs. Where the build machine
    lacks those units, the gate swaps the Linears for modules computing the same numbers
    (slower, never served); where it has them, the engine already runs them."""
    plan = spec.quant_plan
    if plan is None or spec.engine != "torch" or plan.activations not in TARGET_ARITHMETIC:
        return engine
    from bei_cli.engine.torch_engine import TorchEngine

    assert isinstance(engine, TorchEngine), type(engine)
    arithmetic = TARGET_ARITHMETIC[plan.activations]
    if arithmetic.native(engine.device):
        report(f"accuracy gate: {arithmetic.what} run natively on {engine.device}")
        return engine
    swapped, quantized = arithmetic.swap(engine.model, model_dir, engine.device)
    engine.drop_graphs()  # captured graphs would replay the Linears swapped out
    report(
        f"accuracy gate: {swapped} of {quantized} Linears as {arithmetic.what}, "
        f"as {plan.hardware} runs"
    )
    return engine


def _fp8_native(device: torch.device) -> bool:
    from bei_cli.engine.fp8_linear import fp8_compute_available

    return fp8_compute_available(device)


def _fp8_swap(model: torch.nn.Module, model_dir: Path, device: torch.device) -> tuple[int, int]:
    from bei_cli.engine.fp8_linear import EmulatedFp8Linear, swap_fp8_linears

    return swap_fp8_linears(model, model_dir, device, EmulatedFp8Linear)


def _fp4_native(device: torch.device) -> bool:
    from bei_cli.engine.fp4_linear import fp4_compute_available

    return fp4_compute_available(device)


def _fp4_swap(model: torch.nn.Module, model_dir: Path, device: torch.device) -> tuple[int, int]:
    from bei_cli.engine.fp4_linear import EmulatedNvfp4Linear, swap_fp4_linears

    swapped = swap_fp4_linears(model, model_dir, device, EmulatedNvfp4Linear)
    return swapped, swapped


@dataclass(frozen=True)
class TargetArithmetic:
    what: str  # what the gate runs, for its report line
    native: Callable[[torch.device], bool]  # the engine on this device already computes it
    swap: Callable[[torch.nn.Module, Path, torch.device], tuple[int, int]]  # (swapped, quantized)


# The plan's activation precision -> how the gate computes it where the build machine cannot.
# FP8: the float8 operands multiplied exactly and accumulated in fp32, as the GPU's GEMM (not
# torch's CPU `_scaled_mm`, whose speed depends on the CPU; fp8_linear.py). NVFP4: activations
# quantized per 16-block as the Blackwell path does, decoded operands, fp32 accumulation.
TARGET_ARITHMETIC: dict[str, TargetArithmetic] = {
    "fp8": TargetArithmetic("FP8 GEMMs", _fp8_native, _fp8_swap),
    "fp4": TargetArithmetic("emulated NVFP4 GEMMs", _fp4_native, _fp4_swap),
}
