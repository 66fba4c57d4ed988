"""Quantizers: what rewrites a staged artifact's model files for a `quantization_type`.

Each runs after the engine's own file writer (the ONNX graph exists before int8 rewrites it) and
before the accuracy gate, which judges every row of `QUANTIZERS` against fp32 torch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bei_cli.engine.artifact import ONNX_FILE
from bei_cli.engine.base import Engine
from bei_cli.engine.checkpoint_files import Progress
from bei_cli.engine.spec import ArtifactSpec
from bei_cli.errors import BuildError
from bei_cli.inspect.profile import ModelProfile


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
    from bei_cli.quantize.gate import calibration_texts

    if spec.engine != "torch" or spec.quant_plan is None:
        raise BuildError(
            f"{spec.quantization} is built by the torch engine, not {spec.engine}.",
            hint="Set `bei: {engine: torch}` or leave it at auto.",
        )
    quantize_fp8(
        model_dir,
        profile,
        spec.quant_plan,
        calibration_texts(),
        report,
        calib_size=spec.calib_size,
        calib_max_seq_length=spec.calib_max_seq_length,
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
    """The engine the accuracy gate judges: the arithmetic the target runs. An FP8 artifact for
    an FP8 GPU runs float8 GEMMs with quantized activations, which cost more accuracy than the
    dequantized weights a CPU runs; torch's CPU kernel of `_scaled_mm` computes the same numbers,
    so the gate swaps the Linears before judging (slower, never served)."""
    plan = spec.quant_plan
    if plan is None or plan.activations != "fp8" or spec.engine != "torch":
        return engine
    from bei_cli.engine.fp8_linear import swap_fp8_linears
    from bei_cli.engine.torch_engine import TorchEngine

    assert isinstance(engine, TorchEngine), type(engine)
    swapped, quantized = swap_fp8_linears(engine.model, model_dir, engine.device)
    report(f"accuracy gate: {swapped} of {quantized} Linears as FP8 GEMMs, as {plan.hardware} runs")
    return engine
