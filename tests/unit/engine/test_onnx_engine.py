"""The onnx engine vs the torch engine (tiny checkpoints) and sentence-transformers (MiniLM)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bei_cli.engine.base import Batch
from bei_cli.engine.onnx_engine import load_onnx_engine
from bei_cli.engine.onnx_export import write_onnx_model
from bei_cli.engine.torch_engine import load_torch_engine
from bei_cli.errors import EngineError, UnsupportedModelError
from bei_cli.inspect.profile import ModelProfile
from tests.fixtures.models import minilm_dir
from tests.unit.engine.helpers import (
    MINILM_PROFILE,
    PARITY_TEXTS,
    TinyFactory,
    cosines,
    tokenize,
)

pytest.importorskip("onnxruntime")

FP32_FLOOR = 0.99999
INT8_FLOOR = 0.99


def export_copy(model_dir: Path, profile: ModelProfile, target: Path, *, int8: bool) -> Path:
    """The checkpoint's onnx file written next to a copy of its config (the source is shared)."""
    target.mkdir(parents=True, exist_ok=True)
    (target / "config.json").write_bytes((model_dir / "config.json").read_bytes())
    write_onnx_model(model_dir, profile, target / "model.onnx", int8=int8)
    return target


@pytest.mark.parametrize(("pooling", "dense_out"), [("mean", None), ("cls", 16), ("mean", 24)])
def test_tiny_fp32_matches_torch_engine(
    tiny_checkpoint: TinyFactory, tmp_path: Path, pooling: str, dense_out: int | None
) -> None:
    model_dir, profile = tiny_checkpoint(pooling, dense_out=dense_out)
    batch = tokenize(model_dir, PARITY_TEXTS, profile.max_seq_len)
    expected = load_torch_engine(model_dir, profile).run(batch).embeddings
    onnx_dir = export_copy(model_dir, profile, tmp_path / "onnx", int8=False)
    engine = load_onnx_engine(onnx_dir, profile, max_seq_len=profile.max_seq_len)
    got = engine.run(batch).embeddings
    assert got is not None and expected is not None
    assert got.shape == (len(PARITY_TEXTS), profile.embedding_dim)
    assert cosines(got, expected).min() >= FP32_FLOOR
    # un-normalized like the torch engine: the magnitudes match too
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), np.linalg.norm(expected, axis=1), 1e-4)
    assert engine.info.name == "onnx" and engine.info.embedding_dim == profile.embedding_dim


def test_tiny_batch_independent_of_padding(tiny_checkpoint: TinyFactory, tmp_path: Path) -> None:
    """A text embeds the same alone as padded beside a long one (the mask reaches attention)."""
    model_dir, profile = tiny_checkpoint("mean")
    onnx_dir = export_copy(model_dir, profile, tmp_path / "onnx", int8=False)
    engine = load_onnx_engine(onnx_dir, profile)
    texts = ["short", "A long paragraph about embeddings. " * 10]
    together = engine.run(tokenize(model_dir, texts, profile.max_seq_len)).embeddings
    alone = engine.run(tokenize(model_dir, texts[:1], profile.max_seq_len)).embeddings
    assert together is not None and alone is not None
    np.testing.assert_allclose(together[0], alone[0], rtol=1e-4, atol=1e-5)


def test_empty_batch_and_too_long(tiny_checkpoint: TinyFactory, tmp_path: Path) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    onnx_dir = export_copy(model_dir, profile, tmp_path / "onnx", int8=False)
    engine = load_onnx_engine(onnx_dir, profile, max_seq_len=8)
    empty = engine.run(Batch.from_sequences([])).embeddings
    assert empty is not None and empty.shape == (0, profile.embedding_dim)
    with pytest.raises(EngineError, match="exceeds max_seq_len 8"):
        engine.run(Batch.from_sequences([[101] + [7592] * 8 + [102]]))


def test_rejects_non_embedding_profiles(tiny_checkpoint: TinyFactory, tmp_path: Path) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    classifier = ModelProfile.from_dict({**profile.to_dict(), "task": "classify", "pooling": None})
    with pytest.raises(UnsupportedModelError, match="embedding models only"):
        write_onnx_model(model_dir, classifier, tmp_path / "model.onnx")
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def minilm_reference() -> tuple[Batch, np.ndarray]:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_dir()), device="cpu")
    batch = tokenize(minilm_dir(), PARITY_TEXTS, MINILM_PROFILE.max_seq_len)
    return batch, model.encode(PARITY_TEXTS, convert_to_numpy=True)


@pytest.mark.integration
@pytest.mark.parametrize(("int8", "floor"), [(False, FP32_FLOOR), (True, INT8_FLOOR)])
def test_minilm_matches_sentence_transformers(
    minilm_reference: tuple[Batch, np.ndarray], tmp_path: Path, int8: bool, floor: float
) -> None:
    batch, reference = minilm_reference
    onnx_dir = export_copy(minilm_dir(), MINILM_PROFILE, tmp_path / "onnx", int8=int8)
    engine = load_onnx_engine(onnx_dir, MINILM_PROFILE, dtype="int8" if int8 else "float32")
    got = engine.run(batch).embeddings
    assert got is not None
    worst = float(cosines(got, reference).min())
    print(f"onnx {'int8' if int8 else 'fp32'} vs sentence-transformers: min cosine {worst:.6f}")
    assert worst >= floor
