"""NVFP4 compute: Blackwell FP4 GEMMs (UNTESTED on hardware), and their CPU emulation.

The engine first loads an NVFP4 checkpoint dequantized (quant_formats), which runs anywhere.
`use_fp4_compute` then swaps each quantized Linear for an `Nvfp4Linear` where the GPU has FP4
tensor cores (compute capability >= 10.0): activations are quantized to NVFP4 per 16-element
block under the calibrated `input_scale`, and the GEMM runs as torch 2.13's
`torch.nn.functional.scaled_mm` with the NVFP4 recipe (BlockWise1x16 e4m3 scales in cuBLAS's
swizzled layout plus a TensorWise fp32 scale per operand). That path is written to torch's API
and its argument shapes are checked on the meta device, but **no Blackwell GPU has run it yet**:
it is labelled untested in its log line and in docs/quantization.md until one does.

`EmulatedNvfp4Linear` computes what that GEMM computes (same activation quantization, decoded
operands, fp32 accumulation) with ordinary fp32 matmuls, so the accuracy gate on a CPU build
machine judges the FP4 arithmetic the target will run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch

from bei_cli.engine import nvfp4
from bei_cli.engine.fp4_checkpoint import Fp4Checkpoint, read_fp4_checkpoint
from bei_cli.hardware import supports_fp4

log = logging.getLogger(__name__)

# F.scaled_mm's FP4 operands: the packed inner dimension (in/2) and the output dimension in
# multiples of 16, i.e. in_features % 32 and out_features % 16.
GEMM_IN_ALIGNMENT = 32
GEMM_OUT_ALIGNMENT = 16
NO_FP4_COMPUTE = (
    "NVFP4 compute needs a CUDA GPU with compute capability >= 10.0 (Blackwell); %s runs this "
    "NVFP4 artifact with its weights dequantized to %s (smaller artifact, no FP4 speed-up, "
    "and not the arithmetic the accuracy gate judged)."
)
UNTESTED = (
    "NVFP4 compute: %d Linears run FP4 GEMMs (torch.nn.functional.scaled_mm, NVFP4 recipe) "
    "on %s. UNTESTED: this path has not yet run on a Blackwell GPU; compare its outputs with "
    "the artifact's accuracy gate before serving traffic."
)


def gemm_shape_ok(out_features: int, in_features: int) -> bool:
    """Whether the FP4 GEMM takes a weight of this shape (the quantizer keeps the others)."""
    return in_features % GEMM_IN_ALIGNMENT == 0 and out_features % GEMM_OUT_ALIGNMENT == 0


class EmulatedNvfp4Linear(torch.nn.Module):
    """y = Q(x) W^T + b in fp32, where Q is NVFP4 with dynamic block scales under the calibrated
    input scale and W the decoded NVFP4 weight: the Blackwell GEMM's numbers, on any device."""

    weight: torch.Tensor
    input_scale: torch.Tensor

    def __init__(
        self, weight: nvfp4.Nvfp4Tensor, input_scale: torch.Tensor, bias: torch.Tensor | None
    ) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.register_buffer("weight", nvfp4.dequantize(weight))
        self.register_buffer("input_scale", input_scale.float().reshape(()))
        self.bias = None if bias is None else torch.nn.Parameter(bias, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        out = (nvfp4.fake_quantize(rows, self.input_scale) @ self.weight.t()).to(x.dtype)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)


class Nvfp4Linear(torch.nn.Module):
    """y = x W^T + b as one NVFP4 GEMM on Blackwell. UNTESTED on hardware (see module doc)."""

    weight_t: torch.Tensor
    weight_scale: torch.Tensor
    weight_scale_2: torch.Tensor
    input_scale: torch.Tensor

    def __init__(
        self, weight: nvfp4.Nvfp4Tensor, input_scale: torch.Tensor, bias: torch.Tensor | None
    ) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        # scaled_mm wants mat_b (K/2, N) column-major: the transpose of the row-major packed weight.
        packed = weight.packed.contiguous().view(torch.float4_e2m1fn_x2)
        self.register_buffer("weight_t", packed.t())
        self.register_buffer("weight_scale", nvfp4.swizzle_block_scales(weight.block_scale))
        self.register_buffer("weight_scale_2", weight.global_scale.float().reshape(()))
        self.register_buffer("input_scale", input_scale.float().reshape(()))
        self.bias = None if bias is None else torch.nn.Parameter(bias, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        rows = x.reshape(-1, self.in_features)
        activation = nvfp4.quantize(rows, self.input_scale)
        recipe = [F.ScalingType.BlockWise1x16, F.ScalingType.TensorWise]
        swizzle = [F.SwizzleType.SWIZZLE_32_4_4, F.SwizzleType.NO_SWIZZLE]
        out = F.scaled_mm(
            activation.packed.view(torch.float4_e2m1fn_x2),
            self.weight_t,
            [nvfp4.swizzle_block_scales(activation.block_scale), self.input_scale],
            recipe,
            [self.weight_scale, self.weight_scale_2],
            recipe,
            swizzle_a=swizzle,
            swizzle_b=swizzle,
            output_dtype=x.dtype,
        )
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)


def fp4_compute_available(device: torch.device) -> bool:
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    return supports_fp4(torch.cuda.get_device_capability(device))


def use_fp4_compute(model: torch.nn.Module, model_dir: Path, device: torch.device) -> None:
    """For a loaded NVFP4 checkpoint: FP4 GEMMs where the device has them (untested, logged as
    such), else one warning that it runs dequantized."""
    if not fp4_compute_available(device):
        dtype = next(model.parameters()).dtype
        log.warning(NO_FP4_COMPUTE, device, str(dtype).removeprefix("torch."))
        return
    swapped = swap_fp4_linears(model, model_dir, device, Nvfp4Linear)
    log.warning(UNTESTED, swapped, device)


Fp4Module = Callable[[nvfp4.Nvfp4Tensor, torch.Tensor, torch.Tensor | None], torch.nn.Module]


def swap_fp4_linears(
    model: torch.nn.Module, model_dir: Path, device: torch.device, module: Fp4Module
) -> int:
    """Replace the checkpoint's NVFP4 Linears by `module` (Nvfp4Linear on Blackwell,
    EmulatedNvfp4Linear for the gate) on `device`; returns how many. Every one is swapped: the
    quantizer only writes NVFP4 for shapes the GEMM takes (`gemm_shape_ok`)."""
    checkpoint = read_fp4_checkpoint(model_dir)
    for name in checkpoint.layout.linears:
        _swap(model, name, checkpoint, device, module)
    return len(checkpoint.layout.linears)


def _swap(
    model: torch.nn.Module,
    name: str,
    checkpoint: Fp4Checkpoint,
    device: torch.device,
    module: Fp4Module,
) -> None:
    linear = model.get_submodule(name)
    assert isinstance(linear, torch.nn.Linear), name
    weight = checkpoint.weight(name)
    on_device = nvfp4.Nvfp4Tensor(
        weight.packed.to(device), weight.block_scale.to(device), weight.global_scale.to(device)
    )
    bias = None if linear.bias is None else linear.bias.detach()
    swapped = module(on_device, checkpoint.input_scale(name).to(device), bias)
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, swapped)
