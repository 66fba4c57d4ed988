"""The accuracy gate and the measured engine choice inside build_artifact, on a tiny checkpoint:
int8 ONNX graphs, bf16 refused below its floor, several candidates timed with the figures kept
out of the manifest, and rebuilds that write byte-identical files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from bei_cli.engine.artifact import ONNX_FILE, load_engine, read_manifest
from bei_cli.engine.build import build_artifact
from bei_cli.engine.selection import REPORT_NAME, Candidate
from bei_cli.errors import BuildError
from tests.unit.engine.helpers import PARITY_TEXTS, TinyFactory, cosines, tokenize
from tests.unit.engine.test_onnx_build import SPEC

INT8 = dataclasses.replace(SPEC, quantization="weights_int8", accuracy_floor=0.5)
AUTO = dataclasses.replace(
    SPEC, engine="torch", candidates=(Candidate("torch", "float32"), Candidate("onnx", "float32"))
)


def int8_weights(graph: Path) -> int:
    model = onnx.load(str(graph))
    return sum(1 for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8)


def test_weights_int8_writes_a_gated_int8_graph(
    tiny_checkpoint: TinyFactory, tmp_path: Path
) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    manifest = build_artifact(model_dir, profile, tmp_path / "int8", spec=INT8, progress=print)
    assert (manifest.engine, manifest.quantization) == ("onnx", "weights_int8")
    assert int8_weights(tmp_path / "int8" / "model" / ONNX_FILE) > 0
    accuracy = manifest.accuracy
    assert accuracy is not None and accuracy.metric == "min cosine" and accuracy.texts == 64
    assert (
        accuracy.value >= 0.99 and accuracy.floor == 0.5 and accuracy.reference == "torch float32"
    )
    assert read_manifest(tmp_path / "int8").accuracy == accuracy  # round-trips through JSON
    got = load_engine(tmp_path / "int8")[0].run(tokenize(model_dir, PARITY_TEXTS, 128)).embeddings
    assert got is not None and np.isfinite(got).all()


def test_below_the_floor_nothing_is_written(tiny_checkpoint: TinyFactory, tmp_path: Path) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    bf16 = dataclasses.replace(SPEC, engine="torch", dtype="bfloat16", accuracy_floor=1.0)
    with pytest.raises(BuildError, match="torch bfloat16 no_quant engine fails") as caught:
        build_artifact(model_dir, profile, tmp_path / "out", spec=bf16, progress=print)
    assert caught.value.exit_code == 5
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []  # no staging left behind
    passing = dataclasses.replace(bf16, accuracy_floor=None)  # the 16-bit default, 0.999
    manifest = build_artifact(model_dir, profile, tmp_path / "out", spec=passing, progress=print)
    assert manifest.accuracy is not None and manifest.accuracy.floor == 0.999


def test_fp32_torch_is_the_reference_and_not_gated(
    tiny_checkpoint: TinyFactory, tmp_path: Path
) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    torch_spec = dataclasses.replace(SPEC, engine="torch")
    assert build_artifact(model_dir, profile, tmp_path / "a", spec=torch_spec).accuracy is None
    assert (
        build_artifact(model_dir, profile, tmp_path / "b", spec=SPEC).accuracy is None
    )  # explicit


def test_candidates_are_timed_and_the_figures_stay_out_of_the_manifest(
    tiny_checkpoint: TinyFactory, tmp_path: Path
) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    lines: list[str] = []
    manifest = build_artifact(
        model_dir, profile, tmp_path / "auto", spec=AUTO, progress=lines.append
    )
    report = json.loads((tmp_path / "auto" / REPORT_NAME).read_text())["selection"]
    figures = {(c["engine"], c["dtype"]): c for c in report["candidates"]}
    assert set(figures) == {("torch", "float32"), ("onnx", "float32")}
    assert all(c["tokens_per_s"] > 0 and c["passed"] for c in figures.values())
    assert figures["torch", "float32"]["accuracy"] is None  # the reference
    assert figures["onnx", "float32"]["accuracy"]["value"] >= 0.9999
    assert report["chosen"] == {"engine": manifest.engine, "dtype": manifest.dtype}
    assert report["workload"]["texts"] == 64
    assert any(line.startswith(f"chose the {manifest.engine} float32") for line in lines)
    text = (tmp_path / "auto" / "manifest.json").read_text()
    assert "tokens_per_s" not in text and REPORT_NAME not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auto"]  # the loser is gone
    load_engine(tmp_path / "auto")  # every hashed file verifies


def test_a_rebuild_writes_byte_identical_files(
    tiny_checkpoint: TinyFactory, tmp_path: Path
) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    for name in ("first", "second"):
        build_artifact(model_dir, profile, tmp_path / name, spec=INT8, progress=print)
    first, second = (tmp_path / "first" / "manifest.json"), (tmp_path / "second" / "manifest.json")
    assert first.read_bytes() == second.read_bytes()  # files and their sha256 included
    a = load_engine(tmp_path / "first")[0].run(tokenize(model_dir, PARITY_TEXTS, 128)).embeddings
    b = load_engine(tmp_path / "second")[0].run(tokenize(model_dir, PARITY_TEXTS, 128)).embeddings
    assert a is not None and b is not None and cosines(a, b).min() == pytest.approx(1.0)
