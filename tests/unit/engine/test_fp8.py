"""FP8 with nvidia-modelopt on a tiny checkpoint: the on-disk format, loading, and refusals."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from bei_cli.engine.fp8_checkpoint import (
    FP8_DTYPE,
    QUANT_FILE,
    fp8_per_row,
    fp8_per_tensor,
    read_fp8_checkpoint,
)
from bei_cli.engine.fp8_linear import EmulatedFp8Linear, Fp8Linear, swap_fp8_linears
from bei_cli.engine.fp8_quantize import quantize_fp8
from bei_cli.engine.torch_engine import load_torch_engine
from bei_cli.errors import ArtifactError
from bei_cli.quantize.gate import calibration_texts
from bei_cli.quantize.plan import Hardware, QuantPlan, plan_quantization
from tests.unit.engine.helpers import PARITY_TEXTS, TinyFactory, cosines, tokenize
from tests.unit.engine.quantized_helpers import (
    corrupted_copy,
    quantized_copies,
    rewrite,
    set_tensor,
)

ROOT = Path(__file__).resolve().parents[3]
FP8_NAMES = {"fp8": "all", "fp8_mlp_only": "mlp_only"}


def cpu_plan(quantization: str) -> QuantPlan:
    return plan_quantization(
        quantization, base_model="encoder_bert", task="embed", hardware=Hardware.cpu()
    )


@pytest.fixture(scope="module")
def fp8_tiny(
    tiny_checkpoint: TinyFactory, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Path]:
    """fp8_tiny("fp8" | "fp8_mlp_only") -> a quantized copy of the tiny checkpoint, made once."""
    return quantized_copies(tiny_checkpoint, tmp_path_factory, quantize_fp8, cpu_plan, "fp8")


def test_plans_select_the_layers_the_quantizer_reads() -> None:
    assert {name: cpu_plan(name).layers for name in FP8_NAMES} == FP8_NAMES


def test_weights_on_disk_are_float8_with_fp32_scales(fp8_tiny: Callable[[str], Path]) -> None:
    model_dir = fp8_tiny("fp8")
    layout = json.loads((model_dir / QUANT_FILE).read_text())
    assert layout["format"] == "bei-fp8-e4m3/1" and layout["quantization"] == "fp8"
    assert layout["calibration"]["tool"] == "nvidia-modelopt"
    assert layout["calibration"]["texts"] == len(calibration_texts())
    assert layout["embeddings"] == ["embeddings.word_embeddings"]
    tensors = load_file(model_dir / "model.safetensors")
    assert len(layout["linears"]) == 2 * 6  # 2 blocks x (q, k, v, attention out, up, down)
    for name in layout["linears"]:
        assert tensors[f"{name}.weight"].dtype == FP8_DTYPE
        for scale in ("weight_scale", "input_scale"):
            assert tensors[f"{name}.{scale}"].dtype == torch.float32
            assert tensors[f"{name}.{scale}"].numel() == 1
    table = tensors["embeddings.word_embeddings.weight"]
    assert table.dtype == FP8_DTYPE
    assert tensors["embeddings.word_embeddings.weight_scale"].shape == (table.shape[0], 1)
    assert tensors["pooler.dense.weight"].dtype == torch.float32  # outside the blocks
    assert tensors["embeddings.LayerNorm.weight"].dtype == torch.float32


def test_mlp_only_leaves_attention_and_embeddings_in_fp32(
    fp8_tiny: Callable[[str], Path],
) -> None:
    model_dir = fp8_tiny("fp8_mlp_only")
    layout = json.loads((model_dir / QUANT_FILE).read_text())
    assert layout["layers"] == "mlp_only" and layout["embeddings"] == []
    assert all("attention" not in name for name in layout["linears"])
    with safe_open(str(model_dir / "model.safetensors"), "pt") as weights:
        dtypes = {key: weights.get_slice(key).get_dtype() for key in weights.keys()}  # noqa: SIM118
    fp8 = {key.removesuffix(".weight") for key, dtype in dtypes.items() if dtype == "F8_E4M3"}
    assert fp8 == set(layout["linears"])
    assert dtypes["encoder.layer.0.attention.self.query.weight"] == "F32"
    assert dtypes["encoder.layer.0.intermediate.dense.weight"] == "F8_E4M3"


@pytest.mark.parametrize("quantization", sorted(FP8_NAMES))
def test_cpu_engine_dequantizes_close_to_fp32_and_warns(
    quantization: str,
    fp8_tiny: Callable[[str], Path],
    tiny_checkpoint: TinyFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, profile = tiny_checkpoint("mean")
    batch = tokenize(source, PARITY_TEXTS, 128)
    want = load_torch_engine(source, profile).run(batch).embeddings
    with caplog.at_level(logging.WARNING, logger="bei_cli.engine.fp8_linear"):
        engine = load_torch_engine(fp8_tiny(quantization), profile)
    got = engine.run(batch).embeddings
    assert got is not None and want is not None
    assert cosines(got, want).min() >= 0.98
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "compute capability >= 8.9" in warnings[0]
    assert not any(isinstance(m, Fp8Linear) for m in engine.model.modules())


def test_fp8_rounding_keeps_values_within_e4m3_precision() -> None:
    torch.manual_seed(0)
    weight = torch.randn(64, 32)
    weight[3] = 0.0  # an all-zero row must not divide by zero
    fp8, scales = fp8_per_row(weight)
    assert torch.isfinite(scales).all() and (scales > 0).all()
    restored = fp8.float() * scales
    assert torch.allclose(restored, weight, rtol=0.07, atol=1e-6)
    fp8_t, scale = fp8_per_tensor(weight, float(weight.abs().max()))
    assert float(fp8_t.float().abs().max()) == 448.0
    assert torch.allclose(fp8_t.float() * scale, weight, rtol=0.07, atol=2e-2)


LINEAR = "encoder.layer.0.intermediate.dense"
CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "missing input scale": lambda d: rewrite(d, lambda t: t.pop(f"{LINEAR}.input_scale")),
    "nan weight scale": lambda d: rewrite(
        d, set_tensor(f"{LINEAR}.weight_scale", torch.tensor(float("nan")))
    ),
    "negative input scale": lambda d: rewrite(
        d, set_tensor(f"{LINEAR}.input_scale", torch.tensor(-1.0))
    ),
    "fp16 scale": lambda d: rewrite(
        d, set_tensor(f"{LINEAR}.weight_scale", torch.tensor(0.1, dtype=torch.float16))
    ),
    "row scales of the wrong shape": lambda d: rewrite(
        d, set_tensor("embeddings.word_embeddings.weight_scale", torch.ones(3, 1))
    ),
    "unlisted float8 tensor": lambda d: rewrite(
        d, set_tensor("pooler.dense.weight", torch.zeros(32, 32).to(FP8_DTYPE))
    ),
    "weights file missing": lambda d: (d / "model.safetensors").unlink(),
    "unreadable bei_quant.json": lambda d: (d / QUANT_FILE).write_text("{not json"),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_fp8_checkpoint_is_an_artifact_error(
    corruption: str,
    fp8_tiny: Callable[[str], Path],
    tiny_checkpoint: TinyFactory,
    tmp_path: Path,
) -> None:
    model_dir = corrupted_copy(
        fp8_tiny("fp8"), tmp_path / "model", read_fp8_checkpoint, CORRUPTIONS[corruption]
    )
    # An unreadable bei_quant.json names no format: "quantized checkpoint", not "FP8 checkpoint".
    with pytest.raises(ArtifactError, match=r"(FP8|quantized) checkpoint"):
        load_torch_engine(model_dir, tiny_checkpoint("mean")[1])


@pytest.mark.parametrize("quantization", ["fp4", "fp4_kv", "fp4_mlp_only"])
def test_fp4_on_cpu_is_refused_by_the_plan_with_the_documented_message(quantization: str) -> None:
    plan = plan_quantization(
        quantization, base_model="encoder", task="embed", hardware=Hardware.cpu()
    )
    assert not plan.supported
    documented = " ".join((ROOT / "docs" / "quantization.md").read_text().split())
    assert plan.reason.startswith(f"{quantization} (NVFP4 weights and activations")
    generic = plan.reason.split(") needs ", 1)[1]
    assert f"fp4 (NVFP4 weights and activations with calibrated block scales) needs {generic}" in (
        documented
    )


def fp8_gpu() -> bool:
    return torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 9)


# torch's CPU kernel of _scaled_mm computes the GEMM the GPU path runs (no speed-up): the layout
# and scale handling of Fp8Linear is checked everywhere, on a cc >= 8.9 GPU too where there is one.
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not fp8_gpu(), reason="needs a CUDA GPU with cc >= 8.9"),
        ],
    ),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_fp8_linear_matches_the_dequantized_linear(device: str, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    weight, bias, x = torch.randn(96, 64), torch.randn(96), torch.randn(3, 5, 64)
    fp8_weight, weight_scale = fp8_per_tensor(weight, float(weight.abs().max()))
    input_scale = torch.tensor(float(x.abs().max()) / 448.0)
    layer = Fp8Linear(
        fp8_weight.to(device),
        weight_scale.to(device),
        input_scale.to(device),
        bias.to(device, dtype),
    )
    got = layer(x.to(device, dtype)).float().cpu()
    want = torch.nn.functional.linear(x, fp8_weight.float() * weight_scale, bias)
    assert got.shape == (3, 5, 96)
    assert cosines(got.reshape(-1, 96).numpy(), want.reshape(-1, 96).numpy()).min() >= 0.99


def test_fp8_gemm_model_is_close_to_the_dequantized_one(
    fp8_tiny: Callable[[str], Path], tiny_checkpoint: TinyFactory
) -> None:
    _, profile = tiny_checkpoint("mean")
    model_dir = fp8_tiny("fp8")
    batch = tokenize(model_dir, PARITY_TEXTS, profile.max_seq_len)
    engine = load_torch_engine(model_dir, profile)
    dequantized = engine.run(batch).embeddings
    swapped, quantized = swap_fp8_linears(
        engine.model, model_dir, torch.device("cpu"), EmulatedFp8Linear
    )
    assert swapped == quantized > 0
    assert sum(isinstance(m, Fp8Linear) for m in engine.model.modules()) == swapped
    fp8_gemms = engine.run(batch).embeddings
    assert dequantized is not None and fp8_gemms is not None
    agreement = cosines(fp8_gemms, dequantized)
    print(f"FP8 GEMMs vs dequantized: min cosine {agreement.min():.6f}")
    assert agreement.min() >= 0.99 and not (fp8_gemms == dequantized).all()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_the_gates_fp8_gemm_equals_scaled_mm(dtype: torch.dtype) -> None:
    """The gate's EmulatedFp8Linear computes what torch._scaled_mm does (the GEMM the GPU runs;
    here its CPU kernel, on a shape small enough for any CPU's): the float8 operands, scales,
    saturation of an out-of-range activation and bias, up to fp32 summation order."""
    torch.manual_seed(1)
    weight, bias, x = torch.randn(48, 32), torch.randn(48), torch.randn(2, 7, 32)
    x[0, 0, 0] = 1e4  # saturates to +-448 * input_scale in both
    fp8_weight, weight_scale = fp8_per_tensor(weight, float(weight.abs().max()))
    input_scale = torch.tensor(4.0 / 448.0)
    args = (fp8_weight, weight_scale, input_scale, bias.to(dtype))
    want = Fp8Linear(*args)(x.to(dtype)).float()
    got = EmulatedFp8Linear(*args)(x.to(dtype)).float()
    tolerance = 1e-5 if dtype == torch.float32 else 1e-2  # bf16: one rounding of the output
    torch.testing.assert_close(got, want, rtol=tolerance, atol=tolerance)
    assert isinstance(EmulatedFp8Linear(*args), Fp8Linear)
