"""FP8 from the real all-MiniLM-L6-v2, calibrated on this CPU with nvidia-modelopt."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from bei_cli.engine.base import Batch
from bei_cli.engine.fp8_linear import Fp8Linear
from bei_cli.engine.fp8_quantize import quantize_fp8
from bei_cli.engine.torch_engine import load_torch_engine
from bei_cli.quantize.gate import calibration_texts, heldout_texts
from bei_cli.quantize.plan import Hardware, plan_quantization
from tests.fixtures.models import minilm_dir
from tests.integration.texts import varied_texts
from tests.unit.engine.helpers import MINILM_PROFILE, cosines, tokenize

pytestmark = pytest.mark.integration


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def fp8_minilm(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """fp8_minilm("fp8" | "fp8_mlp_only") -> a quantized copy of MiniLM (never MiniLM itself)."""
    made: dict[str, Path] = {}

    def make(quantization: str) -> Path:
        if quantization not in made:
            target = tmp_path_factory.mktemp("fp8-minilm") / quantization
            shutil.copytree(minilm_dir(), target)
            plan = plan_quantization(
                quantization, base_model="encoder_bert", task="embed", hardware=Hardware.cpu()
            )
            quantize_fp8(target, MINILM_PROFILE, plan, calibration_texts(), print)
            made[quantization] = target
        return made[quantization]

    return make


@pytest.fixture(scope="module")
def held_out() -> Batch:
    return tokenize(minilm_dir(), [*heldout_texts(), *varied_texts(120, seed=5)], 256)


@pytest.fixture(scope="module")
def fp32_embeddings(held_out: Batch) -> np.ndarray:
    got = load_torch_engine(minilm_dir(), MINILM_PROFILE).run(held_out).embeddings
    assert got is not None
    return got


def float8_share(model_dir: Path) -> float:
    """The fraction of weight bytes stored as float8."""
    with safe_open(str(model_dir / "model.safetensors"), "pt") as weights:
        sizes = {key: weights.get_slice(key) for key in weights.keys()}  # noqa: SIM118
        total = fp8 = 0
        for view in sizes.values():
            count = int(np.prod(view.get_shape() or [1]))
            width = 1 if view.get_dtype() == "F8_E4M3" else 4
            total += count * width
            fp8 += count * width if width == 1 else 0
    return fp8 / total


def test_fp8_artifact_is_float8_and_3x_smaller(fp8_minilm: Callable[[str], Path]) -> None:
    model_dir = fp8_minilm("fp8")
    fp32_weights = (minilm_dir() / "model.safetensors").stat().st_size
    size = dir_size(model_dir)
    print(f"MiniLM fp8 model dir {size / 1e6:.1f} MB vs fp32 weights {fp32_weights / 1e6:.1f} MB")
    assert fp32_weights / size >= 3.0
    assert float8_share(model_dir) > 0.8


@pytest.mark.parametrize("quantization", ["fp8", "fp8_mlp_only"])
def test_dequantized_engine_is_close_to_fp32(
    quantization: str,
    fp8_minilm: Callable[[str], Path],
    held_out: Batch,
    fp32_embeddings: np.ndarray,
) -> None:
    got = load_torch_engine(fp8_minilm(quantization), MINILM_PROFILE).run(held_out).embeddings
    assert got is not None
    scores = cosines(got, fp32_embeddings)
    print(
        f"MiniLM {quantization} (CPU, dequantized) vs fp32 on {len(scores)} texts: "
        f"cosine min {scores.min():.4f} mean {scores.mean():.4f}"
    )
    assert scores.min() >= 0.99


def test_mlp_only_keeps_attention_linears_in_fp32(fp8_minilm: Callable[[str], Path]) -> None:
    with safe_open(str(fp8_minilm("fp8_mlp_only") / "model.safetensors"), "pt") as weights:
        dtypes = {key: weights.get_slice(key).get_dtype() for key in weights.keys()}  # noqa: SIM118
    attention = [k for k in dtypes if ".attention." in k and k.endswith(".weight")]
    mlp = [
        k
        for k in dtypes
        if (".intermediate." in k or ".output.dense" in k)
        and ".attention." not in k
        and k.endswith(".weight")
    ]
    assert len(attention) == 6 * 5 and len(mlp) == 6 * 2  # q, k, v, out, LayerNorm; up, down
    assert all(dtypes[k] == "F32" for k in attention)
    assert all(dtypes[k] == "F8_E4M3" for k in mlp)
    assert dtypes["embeddings.word_embeddings.weight"] == "F32"


@pytest.mark.gpu
@pytest.mark.skipif(
    not (torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 9)),
    reason="needs a CUDA GPU with compute capability >= 8.9",
)
def test_fp8_gemms_on_cuda_are_close_to_fp32(
    fp8_minilm: Callable[[str], Path], held_out: Batch, fp32_embeddings: np.ndarray
) -> None:
    engine = load_torch_engine(fp8_minilm("fp8"), MINILM_PROFILE, dtype="bfloat16", device="cuda")
    assert sum(isinstance(m, Fp8Linear) for m in engine.model.modules()) == 36
    got = engine.run(held_out).embeddings
    assert got is not None
    scores = cosines(got, fp32_embeddings)
    print(
        f"MiniLM fp8 on CUDA (_scaled_mm, bf16): cosine min {scores.min():.4f} "
        f"mean {scores.mean():.4f}"
    )
    assert scores.min() >= 0.98 and scores.mean() >= 0.995
