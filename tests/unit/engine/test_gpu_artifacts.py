"""GPU-targeted builds on a machine without a GPU: the cuda artifact records its target and the
arithmetic its gate emulated, float16 that overflows falls back to bfloat16, and the artifact
serves here on the CPU with one warning -- in float32, exactly the fp32 reference."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from bei_cli import pipeline
from bei_cli.config import load_config_text
from bei_cli.engine.artifact import load_engine
from bei_cli.engine.build import build_artifact
from bei_cli.engine.manifest import Limits, Manifest, SourceRecord
from bei_cli.engine.placement import cuda_available, place
from bei_cli.engine.torch_engine import load_torch_engine
from tests.fixtures.configs import config_yaml
from tests.fixtures.models import MINILM_PROFILE, make_tiny_sentence_transformer
from tests.unit.engine.helpers import PARITY_TEXTS, tokenize

pytestmark = pytest.mark.skipif(cuda_available(), reason="checks the CPU stand-in for a GPU")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_sentence_transformer(tmp_path_factory.mktemp("gpu") / "tiny")


def build_for(
    model_dir: Path, out: Path, accelerator: str, lines: list[str], **kw: Any
) -> dict[str, Any]:
    text = config_yaml(
        source="LOCAL", repo=str(model_dir), revision=None, accelerator=accelerator, **kw
    )
    loaded = load_config_text(text, base_dir=model_dir.parent)
    profile = pipeline.inspect(loaded, model_dir)
    spec = pipeline.plan_artifact(loaded.config, profile)
    build_artifact(model_dir, profile, out, spec=spec, progress=lines.append)
    return json.loads((out / "manifest.json").read_text())


def test_an_l4_build_is_a_cuda_fp16_artifact_gated_on_the_cpu(tiny: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    manifest = build_for(tiny, tmp_path / "l4", "L4", lines)
    assert (manifest["device_kind"], manifest["accelerator"], manifest["dtype"]) == (
        "cuda",
        "L4",
        "float16",
    )
    accuracy = manifest["accuracy"]
    assert accuracy["arithmetic"] == (
        "torch float16 emulated for L4 on the build machine's CPU (torch CPU kernels)"
    )
    assert accuracy["value"] >= 0.999 and accuracy["reference"] == "torch float32"
    assert any("smoke test" in line and "float16, cpu" in line for line in lines)


def test_it_serves_on_the_cpu_in_float32_with_one_warning(
    tiny: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    build_for(tiny, tmp_path / "l4", "L4", [])
    with caplog.at_level(logging.WARNING, logger="bei_cli.engine.placement"):
        engine, manifest = load_engine(tmp_path / "l4")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "built for L4 (float16)" in warnings[0], warnings
    assert (engine.info.device, engine.info.dtype, manifest.dtype) == ("cpu", "float32", "float16")
    profile = pipeline.inspect(
        load_config_text(config_yaml(accelerator=None), base_dir=tmp_path), tiny
    )
    reference = load_torch_engine(tiny, profile, max_seq_len=128)
    batch = tokenize(tiny, PARITY_TEXTS, 128)
    got, want = engine.run(batch).embeddings, reference.run(batch).embeddings
    assert got is not None and want is not None
    np.testing.assert_allclose(got, want, atol=1e-6)  # the checkpoint's own fp32 weights


def overflowing_copy(model_dir: Path, target: Path) -> Path:
    """The tiny model with one FFN unit past float16's range (65504) whose output weights are
    tiny: inf (then NaN) in float16, a negligible contribution in bfloat16 and float32."""
    shutil.copytree(model_dir, target)
    weights = target / "model.safetensors"
    tensors = load_file(weights)
    bias = next(k for k in tensors if k.endswith("layer.0.intermediate.dense.bias"))
    down = next(k for k in tensors if k.endswith("layer.0.output.dense.weight"))
    tensors[bias][0] = 7.0e4
    tensors[down][:, 0] *= 1e-6
    save_file(tensors, weights, metadata={"format": "pt"})
    return target


def test_float16_that_overflows_falls_back_to_bfloat16(tiny: Path, tmp_path: Path) -> None:
    model_dir = overflowing_copy(tiny, tmp_path / "overflowing")
    lines: list[str] = []
    manifest = build_for(model_dir, tmp_path / "out", "L4", lines, bei={"accuracy_floor": 0.99})
    assert manifest["dtype"] == "bfloat16" and manifest["device_kind"] == "cuda"
    assert any(line.startswith("torch float16 failed") for line in lines), lines
    assert "bfloat16 emulated for L4" in manifest["accuracy"]["arithmetic"]


@pytest.mark.parametrize(
    ("kind", "dtype", "device", "cuda", "bf16", "want"),
    [
        ("cuda", "float16", "auto", True, False, ("cuda", "float16", False)),
        ("cuda", "float16", "auto", False, True, ("cpu", "float32", True)),
        ("cuda", "bfloat16", "auto", False, True, ("cpu", "bfloat16", True)),
        ("cuda", "bfloat16", "auto", False, False, ("cpu", "float32", True)),
        ("cuda", "float16", "cpu", True, False, ("cpu", "float32", True)),
        ("cpu", "float32", "auto", True, True, ("cpu", "float32", False)),
        ("cpu", "float32", "cuda", True, False, ("cuda", "float32", False)),
    ],
)
def test_where_an_artifact_runs(
    kind: str, dtype: str, device: str, cuda: bool, bf16: bool, want: tuple[str, str, bool]
) -> None:
    manifest = Manifest(
        engine="torch",
        dtype=dtype,
        device_kind=kind,
        quantization="no_quant",
        profile=MINILM_PROFILE,
        limits=Limits(16384, 128, 256, 1024, 2048, True),
        default_route="/v1/embeddings",
        served_model_name="m",
        source=SourceRecord(source="HF", repo="org/m"),
        accelerator="L4" if kind == "cuda" else None,
    )
    placement = place(manifest, device, cuda=cuda, cpu_bf16=bf16)
    assert (placement.device, placement.dtype, placement.fallback is not None) == want


def test_num_builder_gpus_is_carried_and_reported(tiny: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    build_for(tiny, tmp_path / "h100", "H100", lines, build={"num_builder_gpus": 2})
    assert any(
        "building for H100 on a machine without a GPU" in line
        and "num_builder_gpus 2 ignored: no GPU here" in line
        for line in lines
    ), lines
    loaded = load_config_text(
        config_yaml(accelerator="H100", build={"num_builder_gpus": 2}), base_dir=tmp_path
    )
    assert "trt_llm.build.num_builder_gpus" not in loaded.ignored
    assert pipeline.plan_artifact(loaded.config, MINILM_PROFILE).builder_gpus == 2
