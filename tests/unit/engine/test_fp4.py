"""NVFP4 artifacts on a tiny generated BERT: the on-disk format, loading (dequantized with one
warning here), refusal of corrupt scales, the gate's CPU emulation of the FP4 GEMMs, and the
Blackwell GEMM path (argument shapes checked on the meta device; run only on cc >= 10.0)."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bei_cli.engine import nvfp4
from bei_cli.engine.build import build_artifact
from bei_cli.engine.fp4_checkpoint import QUANT_FILE, read_fp4_checkpoint
from bei_cli.engine.fp4_linear import (
    EmulatedNvfp4Linear,
    Nvfp4Linear,
    gemm_shape_ok,
    swap_fp4_linears,
)
from bei_cli.engine.fp4_quantize import quantize_fp4
from bei_cli.engine.torch_engine import load_torch_engine
from bei_cli.errors import ArtifactError
from bei_cli.hardware import Hardware, supports_fp4
from bei_cli.quantize.gate import calibration_texts
from bei_cli.quantize.plan import QuantPlan, plan_quantization
from tests.unit.engine.helpers import PARITY_TEXTS, TinyFactory, cosines, tokenize
from tests.unit.engine.quantized_helpers import (
    corrupted_copy,
    quantized_copies,
    rewrite,
    set_tensor,
)
from tests.unit.engine.test_onnx_build import SPEC

FP4_LAYERS = {"fp4": "all", "fp4_kv": "all", "fp4_mlp_only": "mlp_only"}
LINEAR = "encoder.layer.0.intermediate.dense"


def b200_plan(quantization: str) -> QuantPlan:
    return plan_quantization(
        quantization,
        base_model="encoder",
        task="embed",
        hardware=Hardware.from_accelerator("B200"),
    )


@pytest.fixture(scope="module")
def fp4_tiny(
    tiny_checkpoint: TinyFactory, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Path]:
    """fp4_tiny("fp4" | "fp4_mlp_only") -> a quantized copy of the tiny checkpoint, made once."""
    return quantized_copies(tiny_checkpoint, tmp_path_factory, quantize_fp4, b200_plan, "fp4")


@pytest.mark.parametrize("quantization", sorted(FP4_LAYERS))
def test_blackwell_plans_are_buildable_and_others_refused(quantization: str) -> None:
    plan = b200_plan(quantization)
    assert plan.supported and plan.implemented
    assert (plan.weights, plan.activations, plan.layers) == ("fp4", "fp4", FP4_LAYERS[quantization])
    assert plan.accuracy_floor == 0.98
    for other in (Hardware.cpu(), Hardware.from_accelerator("H100")):
        refused = plan_quantization(
            quantization, base_model="encoder", task="embed", hardware=other
        )
        assert not refused.supported and "compute capability >= 10.0" in refused.reason


def test_weights_on_disk_are_nvfp4_in_modelopts_export_names(
    fp4_tiny: Callable[[str], Path],
) -> None:
    model_dir = fp4_tiny("fp4")
    layout = json.loads((model_dir / QUANT_FILE).read_text())
    assert layout["format"] == "bei-nvfp4/1" and layout["block_size"] == 16
    assert layout["calibration"]["texts"] == len(calibration_texts())
    assert len(layout["linears"]) == 2 * 6 and layout["kept"] == []
    tensors = load_file(model_dir / "model.safetensors")
    for name in layout["linears"]:
        module_in = 64 if name.endswith("output.dense") and "attention" not in name else 32
        packed = tensors[f"{name}.weight"]
        assert packed.dtype == torch.uint8 and packed.shape[1] == module_in // 2
        assert tensors[f"{name}.weight_scale"].dtype == torch.float8_e4m3fn
        assert tensors[f"{name}.weight_scale"].shape == (packed.shape[0], module_in // 16)
        for scalar in ("weight_scale_2", "input_scale"):
            assert tensors[f"{name}.{scalar}"].dtype == torch.float32
            assert tensors[f"{name}.{scalar}"].shape == ()
    assert tensors["embeddings.word_embeddings.weight"].dtype == torch.float32
    assert tensors["pooler.dense.weight"].dtype == torch.float32  # outside the blocks


def test_mlp_only_keeps_attention_in_full_precision(fp4_tiny: Callable[[str], Path]) -> None:
    layout = read_fp4_checkpoint(fp4_tiny("fp4_mlp_only")).layout
    assert layout.layers == "mlp_only" and len(layout.linears) == 2 * 2
    assert all("attention" not in name for name in layout.linears)


def test_only_shapes_the_fp4_gemm_takes_are_quantized() -> None:
    assert gemm_shape_ok(384, 1536) and gemm_shape_ok(16, 32)
    assert not gemm_shape_ok(384, 48) and not gemm_shape_ok(8, 64)


def test_cpu_engine_dequantizes_with_one_warning(
    fp4_tiny: Callable[[str], Path],
    tiny_checkpoint: TinyFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, profile = tiny_checkpoint("mean")
    batch = tokenize(source, PARITY_TEXTS, 128)
    with caplog.at_level(logging.WARNING, logger="bei_cli.engine.fp4_linear"):
        engine = load_torch_engine(fp4_tiny("fp4"), profile)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "compute capability >= 10.0 (Blackwell)" in warnings[0]
    assert not any(
        isinstance(m, (Nvfp4Linear, EmulatedNvfp4Linear)) for m in engine.model.modules()
    )
    state = engine.model.state_dict()[f"{LINEAR}.weight"]
    want = nvfp4.dequantize(read_fp4_checkpoint(fp4_tiny("fp4")).weight(LINEAR))
    assert torch.equal(state, want)  # the decoded NVFP4 values, exactly
    got = engine.run(batch).embeddings
    assert got is not None and torch.isfinite(torch.from_numpy(got)).all()


def test_emulated_fp4_gemms_agree_with_fp32_and_differ_from_dequantized(
    fp4_tiny: Callable[[str], Path], tiny_checkpoint: TinyFactory
) -> None:
    source, profile = tiny_checkpoint("mean")
    batch = tokenize(source, PARITY_TEXTS, 128)
    fp32 = load_torch_engine(source, profile).run(batch).embeddings
    engine = load_torch_engine(fp4_tiny("fp4"), profile)
    dequantized = engine.run(batch).embeddings
    swapped = swap_fp4_linears(engine.model, fp4_tiny("fp4"), engine.device, EmulatedNvfp4Linear)
    assert swapped == sum(isinstance(m, EmulatedNvfp4Linear) for m in engine.model.modules()) == 12
    emulated = engine.run(batch).embeddings
    assert fp32 is not None and dequantized is not None and emulated is not None
    agreement, weight_only = cosines(emulated, fp32), cosines(dequantized, fp32)
    print(
        f"tiny BERT NVFP4 vs fp32: emulated FP4 GEMMs min {agreement.min():.6f} mean "
        f"{agreement.mean():.6f}; weight-only (dequantized) min {weight_only.min():.6f}"
    )
    assert agreement.min() >= 0.95 and not (emulated == dequantized).all()


def test_emulated_linear_equals_decoded_operands_in_fp32() -> None:
    torch.manual_seed(0)
    weight, bias, x = torch.randn(48, 64), torch.randn(48), torch.randn(3, 5, 64)
    quantized, input_scale = nvfp4.quantize_weight(weight), nvfp4.global_scale(x.abs().max())
    layer = EmulatedNvfp4Linear(quantized, input_scale, bias)
    rows = nvfp4.fake_quantize(x.reshape(-1, 64), input_scale)
    want = rows @ nvfp4.dequantize(quantized).t() + bias
    assert torch.equal(layer(x), want.reshape(3, 5, 48))
    assert (
        cosines(
            layer(x).reshape(-1, 48).numpy(), (x @ weight.t() + bias).reshape(-1, 48).numpy()
        ).min()
        > 0.97
    )


def test_gated_fp4_build_judges_the_emulated_arithmetic(
    tiny_checkpoint: TinyFactory, tmp_path: Path
) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    spec = dataclasses.replace(
        SPEC,
        engine="torch",
        quantization="fp4",
        device_kind="cuda",
        quant_plan=b200_plan("fp4"),
        accuracy_floor=0.9,
    )
    lines: list[str] = []
    manifest = build_artifact(
        model_dir, profile, tmp_path / "fp4", spec=spec, progress=lines.append
    )
    assert manifest.quantization == "fp4" and manifest.accuracy is not None
    assert any("12 of 12 Linears as emulated NVFP4 GEMMs" in line for line in lines), lines
    print(f"tiny BERT fp4 gate: {manifest.accuracy}")
    assert 0.9 <= manifest.accuracy.value < 1.0
    assert read_fp4_checkpoint(tmp_path / "fp4" / "model").layout.quantization == "fp4"


def _nan_block_scale(tensors: dict[str, torch.Tensor]) -> None:
    scales = tensors[f"{LINEAR}.weight_scale"].view(torch.uint8).clone()
    scales[0, 0] = 0x7F  # e4m3fn's NaN
    tensors[f"{LINEAR}.weight_scale"] = scales.view(torch.float8_e4m3fn)


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "missing global scale": lambda d: rewrite(d, lambda t: t.pop(f"{LINEAR}.weight_scale_2")),
    "NaN block scale": lambda d: rewrite(d, _nan_block_scale),
    "zero block scale": lambda d: rewrite(
        d, set_tensor(f"{LINEAR}.weight_scale", torch.zeros(64, 2).to(torch.float8_e4m3fn))
    ),
    "block scales of the wrong shape": lambda d: rewrite(
        d, set_tensor(f"{LINEAR}.weight_scale", torch.ones(64, 4).to(torch.float8_e4m3fn))
    ),
    "fp32 block scales": lambda d: rewrite(
        d, set_tensor(f"{LINEAR}.weight_scale", torch.ones(64, 2))
    ),
    "negative input scale": lambda d: rewrite(
        d, set_tensor(f"{LINEAR}.input_scale", torch.tensor(-1.0))
    ),
    "infinite global scale": lambda d: rewrite(
        d, set_tensor(f"{LINEAR}.weight_scale_2", torch.tensor(float("inf")))
    ),
    "unlisted packed tensor": lambda d: rewrite(
        d, set_tensor("pooler.dense.weight", torch.zeros(32, 16, dtype=torch.uint8))
    ),
    "other block size": lambda d: (d / QUANT_FILE).write_text(
        (d / QUANT_FILE).read_text().replace('"block_size": 16', '"block_size": 32')
    ),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_nvfp4_checkpoint_is_an_artifact_error(
    corruption: str,
    fp4_tiny: Callable[[str], Path],
    tiny_checkpoint: TinyFactory,
    tmp_path: Path,
) -> None:
    model_dir = corrupted_copy(
        fp4_tiny("fp4"), tmp_path / "model", read_fp4_checkpoint, CORRUPTIONS[corruption]
    )
    with pytest.raises(ArtifactError, match="NVFP4 checkpoint"):
        load_torch_engine(model_dir, tiny_checkpoint("mean")[1])


def test_unknown_quantized_format_is_refused(
    fp4_tiny: Callable[[str], Path], tiny_checkpoint: TinyFactory, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(fp4_tiny("fp4"), model_dir)
    layout = json.loads((model_dir / QUANT_FILE).read_text())
    (model_dir / QUANT_FILE).write_text(json.dumps({**layout, "format": "bei-mxfp4/1"}))
    with pytest.raises(ArtifactError, match="bei-mxfp4/1"):
        load_torch_engine(model_dir, tiny_checkpoint("mean")[1])


def test_blackwell_gemm_arguments_pass_torchs_nvfp4_checks_on_the_meta_device() -> None:
    """No Blackwell GPU here: torch's meta kernel of scaled_mm checks the NVFP4 recipe's
    operand dtypes, layouts and swizzled scale sizes without computing anything."""
    torch.manual_seed(0)
    weight = nvfp4.quantize_weight(torch.randn(48, 96))
    bias = torch.randn(48, dtype=torch.bfloat16)
    layer = Nvfp4Linear(weight, nvfp4.global_scale(3.0), bias).to("meta")
    out = layer(torch.randn(3, 7, 96, device="meta", dtype=torch.bfloat16))
    assert out.shape == (3, 7, 48) and out.dtype == torch.bfloat16


def blackwell() -> bool:
    return torch.cuda.is_available() and supports_fp4(torch.cuda.get_device_capability())


@pytest.mark.gpu
@pytest.mark.skipif(not blackwell(), reason="needs a CUDA GPU with compute capability >= 10.0")
@pytest.mark.parametrize("dtype", [torch.bfloat16])
def test_blackwell_fp4_gemm_matches_the_cpu_emulation(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    weight, bias, x = torch.randn(256, 512), torch.randn(256), torch.randn(4, 33, 512)
    quantized, input_scale = nvfp4.quantize_weight(weight), nvfp4.global_scale(x.abs().max())
    want = EmulatedNvfp4Linear(quantized, input_scale, bias.to(dtype))(x.to(dtype)).float()
    on_gpu = nvfp4.Nvfp4Tensor(
        quantized.packed.cuda(), quantized.block_scale.cuda(), quantized.global_scale.cuda()
    )
    layer = Nvfp4Linear(on_gpu, input_scale.cuda(), bias.to("cuda", dtype))
    got = layer(x.to("cuda", dtype)).float().cpu()
    agreement = cosines(got.reshape(-1, 256).numpy(), want.reshape(-1, 256).numpy())
    print(f"Blackwell NVFP4 GEMM vs CPU emulation: min cosine {agreement.min():.6f}")
    assert agreement.min() >= 0.999
