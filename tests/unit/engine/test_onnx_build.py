"""`bei: {engine: onnx}` through the artifact: build writes the fused graph, load opens it, and
its embeddings equal the torch engine's; the pipeline refuses what the onnx engine cannot do."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bei_cli import pipeline
from bei_cli.engine.artifact import ONNX_FILE, load_engine
from bei_cli.engine.build import build_artifact
from bei_cli.errors import UnsupportedHardwareError, UnsupportedModelError
from tests.unit.engine.helpers import PARITY_TEXTS, TinyFactory, cosines, tokenize
from tests.unit.engine.test_heads_build import SPEC as HEADS_SPEC

SPEC = dataclasses.replace(HEADS_SPEC, engine="onnx", default_route="/v1/embeddings")


def test_onnx_artifact_matches_the_torch_artifact(
    tiny_checkpoint: TinyFactory, tmp_path: Path
) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    onnx = build_artifact(model_dir, profile, tmp_path / "onnx", spec=SPEC, progress=print)
    torch_spec = dataclasses.replace(SPEC, engine="torch")
    build_artifact(model_dir, profile, tmp_path / "torch", spec=torch_spec, progress=print)
    assert onnx.engine == "onnx"
    assert any(f.path == f"model/{ONNX_FILE}" for f in onnx.files)  # hashed like every file
    batch = tokenize(model_dir, PARITY_TEXTS, 128)
    got = load_engine(tmp_path / "onnx")[0].run(batch).embeddings
    want = load_engine(tmp_path / "torch")[0].run(batch).embeddings
    assert got is not None and want is not None
    assert cosines(got, want).min() >= 0.99999
    with pytest.raises(UnsupportedHardwareError, match="CPU only"):
        load_engine(tmp_path / "onnx", device="cuda")


def test_pipeline_refuses_onnx_for_other_dtypes(tiny_checkpoint: TinyFactory) -> None:
    _, profile = tiny_checkpoint("mean")
    with pytest.raises(UnsupportedModelError, match="onnx engine"):
        pipeline.check_engine("onnx", "bfloat16", profile)
    reranker = dataclasses.replace(profile, task="rerank", pooling=None)
    with pytest.raises(UnsupportedModelError, match="onnx engine"):
        pipeline.check_engine("onnx", "float32", reranker)
    pipeline.check_engine("onnx", "float32", profile)  # embedders in float32 build
