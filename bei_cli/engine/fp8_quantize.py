"""Quantizing an artifact's checkpoint in place: FP8 with nvidia-modelopt, and the NVFP4 refusal.

`quantize_fp8` loads the checkpoint exactly as the torch engine serves it (fp32, CPU), lets
modelopt insert FP8 quantizers on the Linears the plan selects, calibrates them with max
calibration by running the engine on the calibration texts, and rewrites the weights as the FP8
checkpoint format of `fp8_checkpoint` (float8 weights + fp32 scales). Calibration needs no GPU,
so a CPU machine builds FP8 artifacts for an FP8 GPU fleet.

These adapters live in `engine` (not `quantize`) because they load models through the torch
engine, and `quantize` stays a pure plan that never imports the engine (tests/unit/
test_import_direction.py).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import torch

from bei_cli.engine.calibration import (
    DEFAULT_CALIB_MAX_SEQ_LENGTH,
    DEFAULT_CALIB_SIZE,
    calibration_engine,
    calibration_inputs,
    selected_linears,
)
from bei_cli.engine.checkpoint_files import Progress
from bei_cli.engine.fp8_checkpoint import (
    Fp8Layout,
    fp8_per_row,
    fp8_per_tensor,
    fp8_scale,
    write_fp8_checkpoint,
)
from bei_cli.errors import BuildError
from bei_cli.inspect.profile import ModelProfile
from bei_cli.quantize.plan import QuantPlan

FP8_E4M3 = {"num_bits": (4, 3), "axis": None}  # modelopt: per-tensor FP8 E4M3

# Whether the word-embedding table is stored in float8 too (weight-only, per-row scales).
QUANTIZE_EMBEDDINGS: dict[str, bool] = {"all": True, "mlp_only": False}


def modelopt_config(linears: Sequence[str]) -> dict[str, Any]:
    """FP8 (E4M3, per-tensor, max calibration) on weights and inputs of `linears` only."""
    entries: list[dict[str, Any]] = [{"quantizer_name": "*", "enable": False}]
    for name in linears:
        for quantizer in ("weight_quantizer", "input_quantizer"):
            entries.append({"quantizer_name": f"{name}.{quantizer}", "cfg": dict(FP8_E4M3)})
    return {"quant_cfg": entries, "algorithm": "max"}


def quantize_fp8(
    model_dir: Path,
    profile: ModelProfile,
    plan: QuantPlan,
    texts: Sequence[str],
    report: Progress,
    *,
    calib_size: int = DEFAULT_CALIB_SIZE,
    calib_max_seq_length: int = DEFAULT_CALIB_MAX_SEQ_LENGTH,
) -> None:
    """Calibrate FP8 on `texts` (the first `calib_size`) and rewrite model_dir's weights."""
    mtq, version = _modelopt()
    calib_texts, engine = calibration_engine(model_dir, profile, texts, calib_size, "FP8")
    model = engine.model
    linears = selected_linears(model, plan.layers)
    if not linears:
        raise BuildError(f"found no Linear layers to quantize for layers={plan.layers!r}.")
    weights = dict(model.state_dict())  # before modelopt adds its quantizer buffers
    max_seq_len, batches = calibration_inputs(model_dir, engine, calib_texts, calib_max_seq_length)
    report(
        f"calibrating FP8 ({plan.layers}: {len(linears)} Linears) with nvidia-modelopt "
        f"{version} on {len(calib_texts)} texts, <= {max_seq_len} tokens each"
    )
    with contextlib.redirect_stdout(io.StringIO()):  # modelopt prints its progress to stdout
        mtq.quantize(model, modelopt_config(linears), lambda _: [engine.run(b) for b in batches])
    for name in linears:
        weights.update(_fp8_linear(model.get_submodule(name), name))
    embeddings = _fp8_embeddings(model, weights) if QUANTIZE_EMBEDDINGS[plan.layers] else ()
    layout = Fp8Layout(
        quantization=plan.quantization,
        layers=plan.layers,
        linears=linears,
        embeddings=embeddings,
        calibration={
            "tool": "nvidia-modelopt",
            "version": version,
            "algorithm": "max",
            "texts": len(calib_texts),
            "max_seq_length": max_seq_len,
        },
    )
    write_fp8_checkpoint(model_dir, weights, layout)
    report(
        f"wrote FP8 weights: {len(linears)} Linears"
        + (f", embeddings {', '.join(embeddings)}" if embeddings else "")
    )


def _modelopt() -> tuple[Any, str]:
    try:
        with warnings.catch_warnings():
            # modelopt warns at import about transformers versions it has not tested.
            warnings.simplefilter("ignore", UserWarning)
            import modelopt
            import modelopt.torch.quantization as mtq
    except ImportError as exc:
        raise BuildError(
            f"FP8 quantization needs nvidia-modelopt, which is not importable: {exc}",
            hint="pip install 'bei[quant]' (nvidia-modelopt).",
        ) from exc
    return mtq, str(modelopt.__version__)


def _amax(quantizer: Any, what: str) -> float:
    amax = getattr(quantizer, "amax", None)
    if amax is None:
        raise BuildError(f"FP8 calibration recorded no {what} range (the layer never ran).")
    return float(torch.as_tensor(amax).float().max())


def _fp8_linear(module: Any, name: str) -> dict[str, torch.Tensor]:
    """A modelopt QuantLinear's weight and calibrated ranges, as FP8 tensors and scales."""
    fp8_weight, weight_scale = fp8_per_tensor(module.weight, _amax(module.weight_quantizer, name))
    input_amax = _amax(module.input_quantizer, f"{name} input")
    return {
        f"{name}.weight": fp8_weight,
        f"{name}.weight_scale": weight_scale,
        f"{name}.input_scale": fp8_scale(input_amax),
    }


def _fp8_embeddings(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> tuple[str, ...]:
    table = cast(Any, model).get_input_embeddings()
    name = next(n for n, m in model.named_modules() if m is table)
    fp8_weight, scales = fp8_per_row(weights[f"{name}.weight"])
    weights.update({f"{name}.weight": fp8_weight, f"{name}.weight_scale": scales})
    return (name,)
