"""NVFP4, the published format: e2m1 values in 16-element blocks, an e4m3 scale per block, and an
fp32 scale per tensor. Pure tensor math, shared by the quantizer, the CPU emulation and the GPU.

A real value is `e2m1 * block_scale * global_scale`. The per-tensor (global) scale is
`amax / (6 * 448)`, so the largest block scale lands on e4m3's largest value (448) and the
largest element on e2m1's (6). Each block scale is `block_amax / (6 * global_scale)`, rounded to
float8_e4m3fn and clamped to [2^-9, 448]; an all-zero block gets 1.0 (any scale encodes zeros).
Elements round to the nearest e2m1 value (ties to the even code) and saturate at +-6. Two e2m1
codes share a byte, the even element in the low nibble -- the layout of torch's
`float4_e2m1fn_x2`, of nvidia-modelopt's NVFP4QTensor and of the checkpoints vLLM reads.

Activations use the same arithmetic at run time: their per-tensor scale is calibrated at build
time (`input_scale`), and each row's block scales are computed from the activation itself, as
TensorRT-LLM and modelopt's NVFP4 recipe do on Blackwell.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

BLOCK_SIZE = 16
E2M1_MAX = 6.0
E4M3_MAX = 448.0
SCALE_DTYPE = torch.float8_e4m3fn
MIN_BLOCK_SCALE = 2.0**-9  # e4m3's smallest subnormal: a nonzero block never scales to zero
MIN_AMAX = 1e-12  # an all-zero tensor must not divide by zero
# The eight magnitudes of e2m1 (sign bit 3, exponent bits 2-1, mantissa bit 0), by code.
E2M1_MAGNITUDES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
SIGN_BIT = 8


def e2m1_round(values: torch.Tensor) -> torch.Tensor:
    """Each value rounded to the nearest e2m1 value (ties to the even code), saturating at +-6,
    as float32. e2m1 steps by 0.5 below 2, by 1 up to 4 and by 2 up to 6; torch.round rounds
    half to even, which is the even code at every midpoint of those steps."""
    magnitude = values.float().abs()
    rounded = torch.where(
        magnitude < 2,
        torch.round(magnitude * 2) / 2,
        torch.where(magnitude < 4, torch.round(magnitude), torch.round(magnitude / 2) * 2),
    ).clamp(max=E2M1_MAX)
    return torch.where(values < 0, -rounded, rounded)


def e2m1_codes(values: torch.Tensor) -> torch.Tensor:
    """The uint8 e2m1 code (0..15) of each value: nearest, ties to even, saturating at +-6."""
    rounded = e2m1_round(values)
    magnitude = rounded.abs()
    # Inverse of the table on its own values: 0..2 by halves -> 0..4, 3 -> 5, 4 -> 6, 6 -> 7.
    codes = torch.where(
        magnitude <= 2, magnitude * 2, torch.where(magnitude <= 4, magnitude + 2, magnitude + 1)
    ).to(torch.uint8)
    return codes | ((values < 0).to(torch.uint8) * SIGN_BIT)


def e2m1_values(codes: torch.Tensor) -> torch.Tensor:
    """The float32 value of each e2m1 code (the inverse of `e2m1_codes` on representable values)."""
    magnitudes = torch.tensor(E2M1_MAGNITUDES, device=codes.device)
    table = torch.cat([magnitudes, -magnitudes])
    return table[codes.long()]


def pack(codes: torch.Tensor) -> torch.Tensor:
    """Two codes per byte along the last dimension, the even element in the low nibble."""
    if codes.shape[-1] % 2:
        raise ValueError(f"cannot pack an odd last dimension {codes.shape[-1]} into bytes")
    return (codes[..., 1::2] << 4) | codes[..., 0::2]


def unpack(packed: torch.Tensor) -> torch.Tensor:
    """The codes of `pack`'s bytes, last dimension doubled."""
    return torch.stack([packed & 0x0F, packed >> 4], dim=-1).flatten(-2)


def global_scale(amax: float | torch.Tensor) -> torch.Tensor:
    """The fp32 per-tensor scale of a tensor (or calibrated activation) whose amax is given."""
    amax_t = torch.as_tensor(amax, dtype=torch.float32).clamp(min=MIN_AMAX)
    return (amax_t / (E2M1_MAX * E4M3_MAX)).reshape(())


@dataclass(frozen=True)
class Nvfp4Tensor:
    """A 2-D (rows, K) tensor in NVFP4: packed codes (rows, K/2) uint8, block scales
    (rows, K/16) float8_e4m3fn and the fp32 scalar global scale."""

    packed: torch.Tensor
    block_scale: torch.Tensor
    global_scale: torch.Tensor

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.packed.shape[0]), int(self.packed.shape[1]) * 2


def block_scales(blocks: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """e4m3 scale of each block of `blocks` (..., blocks, 16) under the global `scale`."""
    per_block = blocks.abs().amax(dim=-1) / (E2M1_MAX * scale)
    per_block = torch.where(per_block == 0, torch.ones_like(per_block), per_block)
    return per_block.clamp(MIN_BLOCK_SCALE, E4M3_MAX).to(SCALE_DTYPE)


def quantize(values: torch.Tensor, scale: torch.Tensor) -> Nvfp4Tensor:
    """NVFP4 of a 2-D tensor whose last dimension is a multiple of 16, under global `scale`."""
    rows, width = values.shape
    if width % BLOCK_SIZE:
        raise ValueError(f"NVFP4 needs a last dimension in multiples of {BLOCK_SIZE}, not {width}")
    scale = scale.float().reshape(()).to(values.device)
    blocks = values.float().reshape(rows, width // BLOCK_SIZE, BLOCK_SIZE)
    scales = block_scales(blocks, scale)
    scaled = blocks / (scales.float() * scale).unsqueeze(-1)
    return Nvfp4Tensor(pack(e2m1_codes(scaled).reshape(rows, width)), scales, scale)


def quantize_weight(weight: torch.Tensor) -> Nvfp4Tensor:
    """NVFP4 of a weight matrix, its global scale from its own amax."""
    return quantize(weight, global_scale(weight.detach().float().abs().max()))


def dequantize(tensor: Nvfp4Tensor) -> torch.Tensor:
    """The float32 values an NVFP4 tensor encodes."""
    rows, width = tensor.shape
    values = e2m1_values(unpack(tensor.packed)).reshape(rows, width // BLOCK_SIZE, BLOCK_SIZE)
    scales = tensor.block_scale.float() * tensor.global_scale.float()
    return (values * scales.unsqueeze(-1)).reshape(rows, width)


def fake_quantize(values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """float32 `values` as the NVFP4 GEMM sees them: quantized per row's blocks, then decoded
    (`dequantize(quantize(values, scale))` without packing the codes)."""
    rows, width = values.shape
    if width % BLOCK_SIZE:
        raise ValueError(f"NVFP4 needs a last dimension in multiples of {BLOCK_SIZE}, not {width}")
    scale = scale.float().reshape(()).to(values.device)
    blocks = values.float().reshape(rows, width // BLOCK_SIZE, BLOCK_SIZE)
    scales = (block_scales(blocks, scale).float() * scale).unsqueeze(-1)
    return (e2m1_round(blocks / scales) * scales).reshape(rows, width)


def swizzle_block_scales(scales: torch.Tensor) -> torch.Tensor:
    """Block scales (rows, blocks) in cuBLAS's block-scaling layout, flattened: 128x4 tiles
    (rows padded to 128, blocks to 4), tiles row-major, and inside a tile the scale of
    (row r, block c) at offset (r % 32) * 16 + (r // 32) * 4 + c."""
    rows, cols = scales.shape
    row_tiles, col_tiles = -(-rows // 128), -(-cols // 4)
    raw = scales.view(torch.uint8)
    padded = torch.zeros(row_tiles * 128, col_tiles * 4, dtype=torch.uint8, device=scales.device)
    padded[:rows, :cols] = raw
    tiles = padded.reshape(row_tiles, 4, 32, col_tiles, 4).permute(0, 3, 2, 1, 4)
    return tiles.contiguous().flatten().view(scales.dtype)
