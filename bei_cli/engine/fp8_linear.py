"""FP8 compute for an FP8 checkpoint: `torch._scaled_mm` Linears on CUDA cc >= 8.9, else a warning.

The engine first loads an FP8 checkpoint dequantized (fp8_checkpoint.fp8_from_pretrained), which
runs anywhere. `use_fp8_compute` then swaps each quantized Linear for an `Fp8Linear` where the GPU
has FP8 tensor cores (Ada/Hopper or newer): activations are cast to float8 with the static
per-tensor scale calibrated at build time, and the GEMM runs in FP8 with fp32 accumulation. The
word embeddings stay dequantized (a lookup, not a GEMM).

The accuracy gate of a build for an FP8 GPU on a machine without one runs `EmulatedFp8Linear`:
the same float8 operands, multiplied in fp32 (a product of two e4m3 values is exact in fp32),
accumulated in fp32 and scaled once, as the tensor-core GEMM does. It does not call torch's CPU
kernel of `_scaled_mm`, whose speed depends on the CPU: in CI the gate of a MiniLM build for H100
did not finish in 10 minutes with it (4 s on a Zen 4); this is one fp32 GEMM per Linear anywhere.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from bei_cli.engine.fp8_checkpoint import (
    FP8_DTYPE,
    FP8_MAX,
    Fp8Checkpoint,
    is_fp8_checkpoint,
    read_fp8_checkpoint,
)
from bei_cli.hardware import supports_fp8

log = logging.getLogger(__name__)

# torch._scaled_mm needs the inner and output dimensions of the weight in multiples of 16.
SCALED_MM_ALIGNMENT = 16
NO_FP8_COMPUTE = (
    "FP8 compute needs a CUDA GPU with compute capability >= 8.9 (Ada/Hopper or newer); "
    "%s runs this FP8 artifact with its weights dequantized to %s (smaller artifact, no "
    "FP8 speed-up)."
)


def quantize_input(rows: torch.Tensor, input_scale: torch.Tensor) -> torch.Tensor:
    """Activations to float8 with the static scale calibrated at build time (saturating)."""
    return (rows / input_scale).clamp(-FP8_MAX, FP8_MAX).to(FP8_DTYPE)


class Fp8Linear(torch.nn.Module):
    """y = x W^T + b with W in float8 and x cast to float8 by a static calibrated scale."""

    weight_t: torch.Tensor
    weight_scale: torch.Tensor
    input_scale: torch.Tensor

    def __init__(
        self,
        weight: torch.Tensor,
        weight_scale: torch.Tensor,
        input_scale: torch.Tensor,
        bias: torch.Tensor | None,
    ) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        # _scaled_mm wants its second operand column-major: the transpose of a row-major weight.
        self.register_buffer("weight_t", weight.contiguous().t())
        self.register_buffer("weight_scale", weight_scale.float().reshape(()))
        self.register_buffer("input_scale", input_scale.float().reshape(()))
        self.bias = None if bias is None else torch.nn.Parameter(bias, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        out = torch._scaled_mm(
            quantize_input(rows, self.input_scale),
            self.weight_t,
            scale_a=self.input_scale,
            scale_b=self.weight_scale,
            out_dtype=x.dtype,
        )
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)


class EmulatedFp8Linear(Fp8Linear):
    """Fp8Linear's numbers on any device: the float8 operands decoded to fp32 (exact), an fp32
    GEMM, both scales applied once to the fp32 result. Only the order of the fp32 additions
    can differ from the tensor cores'. For the accuracy gate; never served."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        x_fp8 = quantize_input(rows, self.input_scale)
        product = x_fp8.float() @ self.weight_t.float()
        out = (product * (self.input_scale * self.weight_scale)).to(x.dtype)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)


def fp8_compute_available(device: torch.device) -> bool:
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    return supports_fp8(torch.cuda.get_device_capability(device))


def use_fp8_compute(model: torch.nn.Module, model_dir: Path, device: torch.device) -> None:
    """For an FP8 checkpoint, swap its quantized Linears for Fp8Linear where the device can, or
    log once why it runs dequantized. Any other checkpoint is left alone."""
    if not is_fp8_checkpoint(model_dir):
        return
    dtype = next(model.parameters()).dtype
    if not fp8_compute_available(device):
        log.warning(NO_FP8_COMPUTE, device, str(dtype).removeprefix("torch."))
        return
    swapped, quantized = swap_fp8_linears(model, model_dir, device, Fp8Linear)
    log.info(
        "FP8 compute: %d of %d Linears run torch._scaled_mm on %s.", swapped, quantized, device
    )


def swap_fp8_linears(
    model: torch.nn.Module, model_dir: Path, device: torch.device, module: type[Fp8Linear]
) -> tuple[int, int]:
    """Replace the checkpoint's quantized Linears by `module` (Fp8Linear on an FP8 GPU,
    EmulatedFp8Linear for the gate elsewhere) on `device`; returns (swapped, quantized). A
    Linear whose shape `_scaled_mm` does not take stays dequantized, in both."""
    checkpoint = read_fp8_checkpoint(model_dir)
    swapped = sum(
        _swap(model, name, checkpoint, device, module) for name in checkpoint.layout.linears
    )
    return swapped, len(checkpoint.layout.linears)


def _swap(
    model: torch.nn.Module,
    name: str,
    checkpoint: Fp8Checkpoint,
    device: torch.device,
    module: type[Fp8Linear],
) -> bool:
    linear = model.get_submodule(name)
    assert isinstance(linear, torch.nn.Linear), name
    weight, weight_scale, input_scale = checkpoint.linear(name)
    if any(size % SCALED_MM_ALIGNMENT for size in weight.shape):
        return False  # stays a dequantized Linear
    bias = None if linear.bias is None else linear.bias.detach()
    fp8 = module(weight.to(device), weight_scale.to(device), input_scale.to(device), bias)
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, fp8)
    return True
