"""The FP8 checkpoint format: float8 weights with fp32 scales in model.safetensors, and its reader.

`bei_quant.json` beside the weights says what was quantized. Each quantized Linear `L` stores
`L.weight` as float8_e4m3fn with `L.weight_scale` (fp32 scalar, amax / 448) and `L.input_scale`
(fp32 scalar, the calibrated activation amax / 448); the word-embedding table `E` stores
`E.weight` as float8_e4m3fn with `E.weight_scale` of shape (rows, 1), weight-only. Real value =
float8 value * scale. LayerNorms, biases and everything else stay as they were. The names follow
the FP8 checkpoints vLLM and compressed-tensors read (`weight_scale`, `input_scale`).

Every tensor is keyed by the loaded model's own `state_dict()` names, so the engine rebuilds the
model from its config and loads the (dequantized) state dict strictly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bei_cli.engine.manifest import REBUILD_HINT
from bei_cli.engine.quantized_checkpoint import (
    QUANT_FILE,
    WEIGHTS_FILE,
    Loader,
    dequantized_from_pretrained,
    dequantized_state,
    layout_fields,
    layout_json,
    read_layout_and_weights,
    refuse_unlisted,
    write_quantized_checkpoint,
)
from bei_cli.errors import ArtifactError

FORMAT = "bei-fp8-e4m3/1"
FP8_DTYPE = torch.float8_e4m3fn
FP8_MAX = float(torch.finfo(FP8_DTYPE).max)  # 448.0
WEIGHT_SCALE = "weight_scale"
INPUT_SCALE = "input_scale"
# The smallest amax a scale is built from: an all-zero row or tensor must not divide by zero.
MIN_AMAX = 1e-12


@dataclass(frozen=True)
class Fp8Layout:
    """The contents of bei_quant.json: which tensors are float8 and how they were calibrated."""

    quantization: str  # the Truss quantization_type that produced it, e.g. "fp8_mlp_only"
    layers: str  # the plan's layers: "all" or "mlp_only"
    linears: tuple[str, ...]  # module names: weight + weight_scale + input_scale
    embeddings: tuple[str, ...]  # module names: weight + per-row weight_scale (weight-only)
    calibration: Mapping[str, Any] = field(default_factory=dict)  # tool, version, texts, ...
    format: str = FORMAT
    fp8_dtype: str = "float8_e4m3fn"
    weights_file: str = WEIGHTS_FILE
    weight_scale: str = WEIGHT_SCALE
    input_scale: str = INPUT_SCALE

    def to_json(self) -> str:
        return layout_json(self)

    @classmethod
    def from_json(cls, text: str) -> Fp8Layout:
        data = layout_fields(text, FORMAT)
        return cls(
            **{**data, "linears": tuple(data["linears"]), "embeddings": tuple(data["embeddings"])}
        )


def is_fp8_checkpoint(model_dir: Path) -> bool:
    return (model_dir / QUANT_FILE).is_file()


def fp8_scale(amax: float) -> torch.Tensor:
    """The fp32 scalar scale that maps a calibrated amax onto float8's largest value."""
    return torch.tensor(max(amax, MIN_AMAX) / FP8_MAX, dtype=torch.float32)


def fp8_per_tensor(weight: torch.Tensor, amax: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(float8 weight, fp32 scalar scale) for one calibrated per-tensor amax."""
    scale = fp8_scale(amax)
    return to_fp8(weight, scale), scale


def fp8_per_row(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(float8 weight, (rows, 1) fp32 scales): each row scaled by its own amax."""
    amax = weight.detach().float().abs().amax(dim=1, keepdim=True).clamp(min=MIN_AMAX)
    scale = amax / FP8_MAX
    return to_fp8(weight, scale), scale


def to_fp8(values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return (values.detach().float() / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8_DTYPE).contiguous()


def write_fp8_checkpoint(
    model_dir: Path, tensors: Mapping[str, torch.Tensor], layout: Fp8Layout
) -> None:
    """Replace the weights in model_dir (plain or sharded) by one file holding `tensors`."""
    write_quantized_checkpoint(model_dir, tensors, layout)


@dataclass(frozen=True)
class Fp8Checkpoint:
    """A validated FP8 checkpoint: its layout and every tensor of its weights file."""

    layout: Fp8Layout
    tensors: Mapping[str, torch.Tensor]

    def linear(self, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(float8 weight, weight scale, input scale) of one quantized Linear."""
        return (
            self.tensors[f"{name}.weight"],
            self.tensors[f"{name}.{self.layout.weight_scale}"],
            self.tensors[f"{name}.{self.layout.input_scale}"],
        )

    def dequantized(self, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """The model's state dict in `dtype`: float8 weights times their scales, scales dropped."""
        scale_keys = {
            f"{name}.{suffix}"
            for name in self.layout.linears
            for suffix in (self.layout.weight_scale, self.layout.input_scale)
        } | {f"{name}.{self.layout.weight_scale}" for name in self.layout.embeddings}

        def decode(key: str, tensor: torch.Tensor) -> torch.Tensor:
            scale = self.tensors[f"{key.removesuffix('.weight')}.{self.layout.weight_scale}"]
            return tensor.float() * scale

        return dequantized_state(self.tensors, scale_keys, FP8_DTYPE, decode, dtype)


def read_fp8_checkpoint(model_dir: Path) -> Fp8Checkpoint:
    """Read and check bei_quant.json and its weights; any mismatch is an ArtifactError."""
    layout, tensors = read_layout_and_weights(model_dir, Fp8Layout.from_json, _corrupt)
    for name in layout.linears:
        _check_quantized(tensors, name, layout.weight_scale, _is_scalar)
        _check_quantized(tensors, name, layout.input_scale, _is_scalar)
    for name in layout.embeddings:
        _check_quantized(tensors, name, layout.weight_scale, _is_row_scale)
    modules = (*layout.linears, *layout.embeddings)
    refuse_unlisted(tensors, FP8_DTYPE, modules, "float8 tensors", _corrupt)
    return Fp8Checkpoint(layout=layout, tensors=tensors)


def _is_scalar(scale: torch.Tensor, weight: torch.Tensor) -> bool:
    return scale.numel() == 1


def _is_row_scale(scale: torch.Tensor, weight: torch.Tensor) -> bool:
    return tuple(scale.shape) == (weight.shape[0], 1)


def _check_quantized(
    tensors: Mapping[str, torch.Tensor],
    name: str,
    suffix: str,
    shape_ok: Callable[[torch.Tensor, torch.Tensor], bool],
) -> None:
    weight, scale = tensors.get(f"{name}.weight"), tensors.get(f"{name}.{suffix}")
    if weight is None or weight.dtype != FP8_DTYPE:
        raise _corrupt(f"{name}.weight is missing or not float8_e4m3fn.")
    if scale is None:
        raise _corrupt(f"the FP8 scale {name}.{suffix} is missing.")
    if scale.dtype != torch.float32 or not shape_ok(scale, weight):
        raise _corrupt(
            f"the FP8 scale {name}.{suffix} has dtype {scale.dtype} and shape "
            f"{tuple(scale.shape)}, not float32 of the expected shape."
        )
    values = scale.flatten().tolist()
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise _corrupt(f"the FP8 scale {name}.{suffix} is not finite and positive.")


def _corrupt(problem: str) -> ArtifactError:
    return ArtifactError(f"FP8 checkpoint: {problem}", hint=REBUILD_HINT)


def fp8_from_pretrained(loader: Any) -> Loader:
    """`loader.from_pretrained`'s stand-in for an FP8 checkpoint: the same transformers class
    built from config.json, then loaded strictly with the dequantized weights."""
    return dequantized_from_pretrained(loader, read_fp8_checkpoint, _corrupt)
