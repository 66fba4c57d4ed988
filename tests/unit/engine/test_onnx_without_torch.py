"""Serving an onnx artifact never imports torch: open and run one in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bei_cli.engine.build import build_artifact
from tests.unit.engine.helpers import TinyFactory
from tests.unit.engine.test_onnx_build import SPEC

PROBE = """
import sys
from pathlib import Path
import numpy as np
from bei_cli.engine.artifact import load_engine
from bei_cli.engine.base import Batch

engine, _ = load_engine(Path(sys.argv[1]))
out = engine.run(Batch.from_sequences([[101, 7592, 102], [101, 102]]))
assert out.embeddings is not None and np.isfinite(out.embeddings).all()
print("torch" in sys.modules, out.embeddings.shape)
"""


def test_an_onnx_artifact_serves_without_torch(
    tiny_checkpoint: TinyFactory, tmp_path: Path
) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    build_artifact(model_dir, profile, tmp_path / "onnx", spec=SPEC, progress=print)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "onnx")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "False", result.stdout
