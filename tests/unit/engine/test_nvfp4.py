"""The NVFP4 format itself (engine/nvfp4.py): e2m1 codes against the published value table,
packing, block and global scales, dequantization error bounds, cuBLAS's scale layout, and
byte-equality with nvidia-modelopt's own NVFP4 packer where it is installed."""

from __future__ import annotations

import warnings

import pytest
import torch

from bei_cli.engine import nvfp4

# The OCP / NVIDIA e2m1 table: code -> value (sign bit 3, exponent bits 2-1, mantissa bit 0).
PUBLISHED_E2M1 = {
    0b0000: 0.0, 0b0001: 0.5, 0b0010: 1.0, 0b0011: 1.5,
    0b0100: 2.0, 0b0101: 3.0, 0b0110: 4.0, 0b0111: 6.0,
    0b1000: -0.0, 0b1001: -0.5, 0b1010: -1.0, 0b1011: -1.5,
    0b1100: -2.0, 0b1101: -3.0, 0b1110: -4.0, 0b1111: -6.0,
}  # fmt: skip


def test_every_code_decodes_to_the_published_value_and_round_trips() -> None:
    codes = torch.arange(16, dtype=torch.uint8)
    values = nvfp4.e2m1_values(codes)
    assert values.tolist() == [PUBLISHED_E2M1[c] for c in range(16)]
    nonzero = codes[(codes != 0) & (codes != 8)]
    assert torch.equal(nvfp4.e2m1_codes(nvfp4.e2m1_values(nonzero)), nonzero)


@pytest.mark.parametrize(
    ("value", "nearest"),
    [
        (0.24, 0.0), (0.25, 0.0), (0.26, 0.5),  # tie: to the even code (0.0)
        (0.75, 1.0), (1.25, 1.0), (1.75, 2.0),  # ties to even: 1.0, 1.0, 2.0
        (2.5, 2.0), (3.5, 4.0), (5.0, 4.0),  # ties to even: 2.0, 4.0, 4.0
        (5.01, 6.0), (6.0, 6.0), (1e6, 6.0),  # saturates at 6
        (-0.3, -0.5), (-2.6, -3.0), (-100.0, -6.0),
    ],
)  # fmt: skip
def test_rounding_is_to_nearest_with_ties_to_even(value: float, nearest: float) -> None:
    assert nvfp4.e2m1_values(nvfp4.e2m1_codes(torch.tensor([value]))).item() == nearest


def test_pack_puts_the_even_element_in_the_low_nibble_and_unpacks() -> None:
    codes = torch.tensor([[1, 2, 15, 0, 7, 8]], dtype=torch.uint8)
    packed = nvfp4.pack(codes)
    assert packed.tolist() == [[0x21, 0x0F, 0x87]]
    assert torch.equal(nvfp4.unpack(packed), codes)
    every = torch.randint(
        0, 16, (5, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(nvfp4.unpack(nvfp4.pack(every)), every)
    with pytest.raises(ValueError, match="odd"):
        nvfp4.pack(torch.zeros(3, dtype=torch.uint8))


def test_global_and_block_scales_follow_the_published_recipe() -> None:
    weight = torch.zeros(2, 32)
    weight[0, :16] = torch.linspace(-3.0, 1.5, 16)  # block amax 3.0
    weight[0, 16:] = 0.01  # a small block: its scale is small, not the tensor's
    weight[1, 5] = 12.0  # the tensor's amax
    quantized = nvfp4.quantize_weight(weight)
    assert quantized.global_scale.item() == pytest.approx(12.0 / (6 * 448))
    scales = quantized.block_scale.float() * quantized.global_scale
    assert quantized.block_scale.dtype == torch.float8_e4m3fn
    assert quantized.block_scale.shape == (2, 2)
    # The largest block scale lands on e4m3's 448, each block's amax on e2m1's 6.
    assert quantized.block_scale[1, 0].float().item() == 448.0
    assert scales[0, 0].item() * 6 == pytest.approx(3.0, rel=0.07)  # e4m3 has 3 mantissa bits
    assert scales[0, 1].item() * 6 == pytest.approx(0.01, rel=0.07)
    assert quantized.block_scale[1, 1].float().item() == 1.0  # an all-zero block


def test_dequantization_error_is_bounded_by_half_a_step_of_each_block() -> None:
    torch.manual_seed(0)
    weight = torch.randn(64, 256) * torch.logspace(-3, 0, 64).unsqueeze(1)  # rows of all sizes
    quantized = nvfp4.quantize_weight(weight)
    restored = nvfp4.dequantize(quantized)
    step = (quantized.block_scale.float() * quantized.global_scale).repeat_interleave(16, dim=1)
    # e2m1's widest gap is 2 (between 4 and 6): a value is at most one gap's half (1) away, in
    # units of its block's scale, plus e4m3's rounding of the scale itself (<= 1/16).
    assert ((restored - weight).abs() <= step * (1.0 + 6 / 16) + 1e-12).all()
    relative = (restored - weight).norm() / weight.norm()
    assert relative < 0.12  # NVFP4 keeps ~ 9 % relative error on Gaussian weights
    assert nvfp4.quantize_weight(torch.zeros(4, 16)).global_scale.item() > 0  # no divide by zero


def test_activations_quantize_per_row_blocks_under_the_calibrated_scale() -> None:
    x = torch.tensor([[1.0] * 16, [100.0] * 16])
    scale = nvfp4.global_scale(6.0)  # calibrated amax 6: the second row exceeds it
    fake = nvfp4.fake_quantize(x, scale)
    assert torch.allclose(fake[0], x[0], rtol=0.07)  # in range: kept to e4m3/e2m1 precision
    assert fake[1].max().item() == pytest.approx(6 * 448 * scale.item())  # clamped at the range
    with pytest.raises(ValueError, match="multiples of 16"):
        nvfp4.quantize(torch.ones(2, 24), scale)


def cublas_offset(row: int, block: int, blocks: int) -> int:
    """cuBLAS's documented block-scale offset (1-byte scales): 512-byte 128x4 tiles."""
    col_tiles = -(-blocks // 4)
    tile = (row // 128) * col_tiles + block // 4
    return tile * 512 + (row % 32) * 16 + ((row % 128) // 32) * 4 + block % 4


def test_swizzled_block_scales_follow_cublas_layout() -> None:
    rows, blocks = 200, 10  # both padded: 256 rows, 12 blocks
    raw = torch.randint(
        1, 120, (rows, blocks), dtype=torch.uint8, generator=torch.Generator().manual_seed(2)
    )
    swizzled = nvfp4.swizzle_block_scales(raw.view(torch.float8_e4m3fn)).view(torch.uint8)
    assert swizzled.numel() == 256 * 12
    for row in range(rows):
        for block in range(blocks):
            assert swizzled[cublas_offset(row, block, blocks)] == raw[row, block]


def test_bytes_equal_nvidia_modelopt_nvfp4_packer() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qtensor = pytest.importorskip("modelopt.torch.quantization.qtensor.nvfp4_tensor")
    torch.manual_seed(3)
    weight = torch.randn(96, 160) * 0.05
    weight[3, :16] = 0.0
    theirs, block_scale, global_scale = qtensor.NVFP4QTensor.quantize(weight.clone(), 16)
    ours = nvfp4.quantize_weight(weight)
    assert torch.equal(ours.packed, theirs._quantized_data)
    assert torch.equal(ours.block_scale.view(torch.uint8), block_scale.view(torch.uint8))
    assert ours.global_scale.item() == pytest.approx(global_scale.item(), rel=1e-6)


def test_fake_quantize_equals_decoding_the_packed_tensor() -> None:
    torch.manual_seed(4)
    x = torch.randn(40, 96) * 3
    scale = nvfp4.global_scale(5.0)  # below the amax: some blocks saturate
    assert torch.equal(nvfp4.fake_quantize(x, scale), nvfp4.dequantize(nvfp4.quantize(x, scale)))
