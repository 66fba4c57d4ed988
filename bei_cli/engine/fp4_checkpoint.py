"""The NVFP4 checkpoint format: packed e2m1 weights with e4m3 block scales, and its reader.

`bei_quant.json` beside the weights says what was quantized (format `bei-nvfp4/1`). Each
quantized Linear `L` (out, in) stores, in nvidia-modelopt's NVFP4 export names that vLLM reads:
`L.weight` uint8 (out, in/2), two e2m1 codes a byte (engine.nvfp4); `L.weight_scale`
float8_e4m3fn (out, in/16), one scale per 16 inputs; `L.weight_scale_2` fp32 scalar, the
per-tensor scale; `L.input_scale` fp32 scalar, the calibrated activation amax / (6 * 448).
Real weight = e2m1 * weight_scale * weight_scale_2. Everything else (embeddings, LayerNorms,
biases, heads) stays as it was.

Every tensor is keyed by the loaded model's own `state_dict()` names, so the engine rebuilds the
model from its config and loads the (dequantized) state dict strictly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bei_cli.engine import nvfp4, quantized_checkpoint
from bei_cli.engine.manifest import REBUILD_HINT
from bei_cli.engine.quantized_checkpoint import (
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

# The same file name as the FP8 format (`format` tells them apart); importers read it here.
QUANT_FILE = quantized_checkpoint.QUANT_FILE
FORMAT = "bei-nvfp4/1"
PACKED_DTYPE = torch.uint8
BLOCK_SCALE = "weight_scale"
GLOBAL_SCALE = "weight_scale_2"
INPUT_SCALE = "input_scale"


@dataclass(frozen=True)
class Fp4Layout:
    """The contents of bei_quant.json for NVFP4."""

    quantization: str  # the Truss quantization_type that produced it, e.g. "fp4_mlp_only"
    layers: str  # the plan's layers: "all" or "mlp_only"
    linears: tuple[str, ...]  # NVFP4 Linears: weight + weight_scale + weight_scale_2 + input_scale
    kept: tuple[str, ...]  # Linears the plan selects whose shape the FP4 GEMM cannot run
    calibration: Mapping[str, Any] = field(default_factory=dict)  # tool, algorithm, texts, ...
    format: str = FORMAT
    block_size: int = nvfp4.BLOCK_SIZE
    element: str = "e2m1, two per byte, even element in the low nibble"
    block_scale_dtype: str = "float8_e4m3fn"
    weights_file: str = WEIGHTS_FILE

    def to_json(self) -> str:
        return layout_json(self)

    @classmethod
    def from_json(cls, text: str) -> Fp4Layout:
        data = layout_fields(text, FORMAT)
        if data.get("block_size") != nvfp4.BLOCK_SIZE:
            raise ValueError(f"block_size {data.get('block_size')!r} is not {nvfp4.BLOCK_SIZE}")
        return cls(**{**data, "linears": tuple(data["linears"]), "kept": tuple(data["kept"])})


def linear_tensors(
    name: str, weight: nvfp4.Nvfp4Tensor, input_scale: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The four tensors one NVFP4 Linear stores."""
    return {
        f"{name}.weight": weight.packed,
        f"{name}.{BLOCK_SCALE}": weight.block_scale,
        f"{name}.{GLOBAL_SCALE}": weight.global_scale.float().reshape(()),
        f"{name}.{INPUT_SCALE}": input_scale.float().reshape(()),
    }


def write_fp4_checkpoint(
    model_dir: Path, tensors: Mapping[str, torch.Tensor], layout: Fp4Layout
) -> None:
    """Replace the weights in model_dir (plain or sharded) by one file holding `tensors`."""
    write_quantized_checkpoint(model_dir, tensors, layout)


@dataclass(frozen=True)
class Fp4Checkpoint:
    """A validated NVFP4 checkpoint: its layout and every tensor of its weights file."""

    layout: Fp4Layout
    tensors: Mapping[str, torch.Tensor]

    def weight(self, name: str) -> nvfp4.Nvfp4Tensor:
        return nvfp4.Nvfp4Tensor(
            packed=self.tensors[f"{name}.weight"],
            block_scale=self.tensors[f"{name}.{BLOCK_SCALE}"],
            global_scale=self.tensors[f"{name}.{GLOBAL_SCALE}"],
        )

    def input_scale(self, name: str) -> torch.Tensor:
        return self.tensors[f"{name}.{INPUT_SCALE}"]

    def dequantized(self, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """The model's state dict in `dtype`: NVFP4 weights decoded, their scales dropped."""
        scales = {
            f"{name}.{suffix}"
            for name in self.layout.linears
            for suffix in (BLOCK_SCALE, GLOBAL_SCALE, INPUT_SCALE)
        }

        def decode(key: str, _packed: torch.Tensor) -> torch.Tensor:
            return nvfp4.dequantize(self.weight(key.removesuffix(".weight")))

        return dequantized_state(self.tensors, scales, PACKED_DTYPE, decode, dtype)


def read_fp4_checkpoint(model_dir: Path) -> Fp4Checkpoint:
    """Read and check bei_quant.json and its weights; any mismatch is an ArtifactError."""
    layout, tensors = read_layout_and_weights(model_dir, Fp4Layout.from_json, _corrupt)
    for name in layout.linears:
        check_linear(tensors, name)
    refuse_unlisted(tensors, PACKED_DTYPE, layout.linears, "packed uint8 tensors", _corrupt)
    return Fp4Checkpoint(layout=layout, tensors=tensors)


def fp4_from_pretrained(auto_class: Any) -> Loader:
    """`from_pretrained` for an NVFP4 checkpoint: the transformers class built from config.json,
    then loaded strictly with the decoded weights."""
    return dequantized_from_pretrained(auto_class, read_fp4_checkpoint, _corrupt)


def check_linear(tensors: Mapping[str, torch.Tensor], name: str) -> None:
    """One NVFP4 Linear's four tensors: dtypes, shapes that fit each other, and scales that are
    finite and positive (a zero, negative or NaN scale would silently zero or poison outputs)."""
    packed = tensors.get(f"{name}.weight")
    if packed is None or packed.dtype != PACKED_DTYPE or packed.dim() != 2:
        raise _corrupt(f"{name}.weight is missing or not a 2-D uint8 tensor of packed e2m1 codes.")
    rows, width = packed.shape[0], packed.shape[1] * 2
    expected = {
        BLOCK_SCALE: (nvfp4.SCALE_DTYPE, (rows, width // nvfp4.BLOCK_SIZE)),
        GLOBAL_SCALE: (torch.float32, ()),
        INPUT_SCALE: (torch.float32, ()),
    }
    for suffix, (dtype, shape) in expected.items():
        scale = tensors.get(f"{name}.{suffix}")
        if scale is None:
            raise _corrupt(f"the NVFP4 scale {name}.{suffix} is missing.")
        if scale.dtype != dtype or tuple(scale.shape) != shape:
            raise _corrupt(
                f"the NVFP4 scale {name}.{suffix} has dtype {scale.dtype} and shape "
                f"{tuple(scale.shape)}, not {dtype} of shape {shape}."
            )
        values = scale.float()
        if not bool(torch.isfinite(values).all() and (values > 0).all()):
            raise _corrupt(f"the NVFP4 scale {name}.{suffix} is not finite and positive.")


def _corrupt(problem: str) -> ArtifactError:
    return ArtifactError(f"NVFP4 checkpoint: {problem}", hint=REBUILD_HINT)
