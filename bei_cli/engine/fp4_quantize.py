"""Quantizing an artifact's checkpoint in place to NVFP4, with bei's own quantizer of the format.

nvidia-modelopt's NVFP4 recipe cannot calibrate off a GPU: its fake-quantizing forward asserts
CUDA tensors (`amax must be a CUDA tensor for dynamic block quantization`, modelopt 0.47). Its
weight packer (NVFP4QTensor.quantize) does run on a CPU, and the tests check that bei's
quantizer (engine.nvfp4) writes the same bytes. So a CPU build machine calibrates here:

1. load the checkpoint exactly as the torch engine serves it (fp32, CPU);
2. max calibration: run the engine on the calibration texts and record each selected Linear's
   largest |input| (modelopt's "max" algorithm, the default of its NVFP4 config);
3. write each Linear's weight as NVFP4 (its own amax sets the per-tensor scale) and its input
   scale as amax / (6 * 448), in the format of `fp4_checkpoint`.

Linears whose shape the FP4 GEMM cannot take (in % 32, out % 16) stay in full precision and are
listed as `kept`. Embeddings, LayerNorms and heads stay in full precision, as in modelopt's
NVFP4 exports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from bei_cli.engine import nvfp4
from bei_cli.engine.calibration import (
    DEFAULT_CALIB_MAX_SEQ_LENGTH,
    DEFAULT_CALIB_SIZE,
    calibration_engine,
    calibration_inputs,
    selected_linears,
)
from bei_cli.engine.checkpoint_files import Progress
from bei_cli.engine.fp4_checkpoint import Fp4Layout, linear_tensors, write_fp4_checkpoint
from bei_cli.engine.fp4_linear import gemm_shape_ok
from bei_cli.errors import BuildError
from bei_cli.inspect.profile import ModelProfile
from bei_cli.quantize.plan import QuantPlan

TOOL = "bei nvfp4 (engine/nvfp4.py; bytes equal to nvidia-modelopt NVFP4QTensor)"


def quantize_fp4(
    model_dir: Path,
    profile: ModelProfile,
    plan: QuantPlan,
    texts: Sequence[str],
    report: Progress,
    *,
    calib_size: int = DEFAULT_CALIB_SIZE,
    calib_max_seq_length: int = DEFAULT_CALIB_MAX_SEQ_LENGTH,
) -> None:
    """Calibrate NVFP4 on `texts` (the first `calib_size`) and rewrite model_dir's weights."""
    calib_texts, engine = calibration_engine(model_dir, profile, texts, calib_size, "NVFP4")
    model = engine.model
    selected = selected_linears(model, plan.layers)
    linears = tuple(n for n in selected if gemm_shape_ok(*_linear(model, n).weight.shape))
    kept = tuple(n for n in selected if n not in linears)
    if not linears:
        raise BuildError(
            f"found no Linear layers the FP4 GEMM can run for layers={plan.layers!r}.",
            hint="NVFP4 needs Linears with in_features % 32 == 0 and out_features % 16 == 0.",
        )
    weights = dict(model.state_dict())
    max_seq_len, batches = calibration_inputs(model_dir, engine, calib_texts, calib_max_seq_length)
    report(
        f"calibrating NVFP4 ({plan.layers}: {len(linears)} Linears) with max calibration on "
        f"{len(calib_texts)} texts, <= {max_seq_len} tokens each"
    )
    amax = input_amax(model, linears, lambda: [engine.run(b) for b in batches])
    for name in linears:
        weight = _linear(model, name).weight.detach().float()
        if not bool(torch.isfinite(weight).all()):
            raise BuildError(f"cannot quantize {name}: its weight holds NaN or infinite values.")
        weights.update(
            linear_tensors(name, nvfp4.quantize_weight(weight), nvfp4.global_scale(amax[name]))
        )
    layout = Fp4Layout(
        quantization=plan.quantization,
        layers=plan.layers,
        linears=linears,
        kept=kept,
        calibration={
            "tool": TOOL,
            "algorithm": "max",
            "texts": len(calib_texts),
            "max_seq_length": max_seq_len,
        },
    )
    write_fp4_checkpoint(model_dir, weights, layout)
    report(
        f"wrote NVFP4 weights: {len(linears)} Linears"
        + (f"; kept in full precision (shape): {', '.join(kept)}" if kept else "")
    )


def input_amax(
    model: torch.nn.Module, linears: Sequence[str], run: Callable[[], object]
) -> dict[str, torch.Tensor]:
    """The largest |input| each of `linears` sees while `run()` runs the model."""
    amax = {name: torch.zeros(()) for name in linears}

    def recorder(name: str) -> Any:
        def record(_module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            amax[name] = torch.maximum(amax[name], args[0].detach().float().abs().max().cpu())

        return record

    hooks = [_linear(model, n).register_forward_pre_hook(recorder(n)) for n in linears]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    silent = [name for name, value in amax.items() if not float(value) > 0]
    if silent:
        raise BuildError(f"NVFP4 calibration recorded no input range for {', '.join(silent)}.")
    return amax


def _linear(model: torch.nn.Module, name: str) -> torch.nn.Linear:
    module = model.get_submodule(name)
    assert isinstance(module, torch.nn.Linear), name
    return module
