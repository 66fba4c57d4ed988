"""NomicBERT, GTE (embedder and reranker) and EuroBERT: tiny checkpoints in the transformers-native
layout and in the hub's published layout (written from the native one by the inverse mapping),
built with `bei build` and served by the torch engine, against transformers' own classes run on
the native checkpoint (sentence-transformers for embedders, the sequence classifier for the
reranker). The hub round trip must give the native vectors exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bei_cli.engine.artifact import MODEL_DIR, load_engine
from bei_cli.engine.base import Batch
from bei_cli.engine.torch_engine import TorchEngine
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.families import MAX_SEQ_LENGTH, make_native, to_hub_layout
from tests.unit.engine.helpers import PARITY_TEXTS
from tests.unit.inspect.test_refusals import build

EMBEDDER_FAMILIES = ("nomic_bert", "gte", "eurobert")
COSINE_FLOOR = 0.9999  # fp32, per docs/models.md
SCORE_TOLERANCE = 1e-4
QUERY = "What is the capital of France?"
DOCUMENTS = ["Paris is the capital of France.", "a", "Berlin is in Germany. " * 10, "日本語 🚀"]
LAYOUTS = ("native", "hub")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    root = tmp_path_factory.mktemp("families")
    made = {}
    for family in (*EMBEDDER_FAMILIES, "gte-reranker", "eurobert-classifier"):
        native = make_native(root / family / "native", family)
        made[(family, "native")] = native
        made[(family, "hub")] = to_hub_layout(native, root / family / "hub")
    return made


def bei_rows(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], texts: list[str]
) -> np.ndarray:
    tmp_path.mkdir(parents=True, exist_ok=True)
    code, out = build(model_dir, tmp_path, capsys)
    assert code == 0, out
    engine, _ = load_engine(tmp_path / "out", device="cpu")
    tokenizer = TextTokenizer.from_dir(tmp_path / "out" / MODEL_DIR, MAX_SEQ_LENGTH)
    ids = tokenizer.encode(texts, truncate=True)
    output = engine.run(Batch.from_sequences(ids))
    assert output.embeddings is not None
    return output.embeddings


def reference_embeddings(native_dir: Path, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(native_dir), device="cpu")
    return np.asarray(model.encode(texts, batch_size=4, convert_to_numpy=True))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("family", EMBEDDER_FAMILIES)
def test_embedder_matches_transformers(
    family: str,
    layout: str,
    checkpoints: dict[tuple[str, str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    texts = list(PARITY_TEXTS)
    served = bei_rows(checkpoints[(family, layout)], tmp_path, capsys, texts)
    reference = reference_embeddings(checkpoints[(family, "native")], texts)
    cosines = np.sum(served * reference, axis=1) / (
        np.linalg.norm(served, axis=1) * np.linalg.norm(reference, axis=1)
    )
    assert cosines.min() >= COSINE_FLOOR, (family, layout, cosines.min())


def reference_scores(native_dir: Path, pairs: list[tuple[str, str | None]]) -> np.ndarray:
    """transformers' own *ForSequenceClassification, one unpadded pair (or text) at a time."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(native_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(native_dir)
    with torch.inference_mode():
        rows = [model(**tokenizer(q, d, return_tensors="pt")).logits[0].numpy() for q, d in pairs]
    return np.stack(rows)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gte_reranker_matches_transformers(
    layout: str,
    checkpoints: dict[tuple[str, str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = build(checkpoints[("gte-reranker", layout)], tmp_path, capsys)
    assert code == 0, out
    engine, manifest = load_engine(tmp_path / "out", device="cpu")
    assert manifest.profile.task == "rerank"
    tokenizer = TextTokenizer.from_dir(tmp_path / "out" / MODEL_DIR, MAX_SEQ_LENGTH)
    pairs: list[tuple[str, str | None]] = [(QUERY, doc) for doc in DOCUMENTS]
    encoded = tokenizer.encode_pairs(pairs, truncate=True)
    batch = Batch.from_sequences([ids for ids, _ in encoded], [types for _, types in encoded])
    scores = engine.run(batch).scores
    assert scores is not None
    reference = reference_scores(checkpoints[("gte-reranker", "native")], pairs)
    assert np.abs(scores - reference).max() <= SCORE_TOLERANCE


@pytest.mark.parametrize("layout", LAYOUTS)
def test_eurobert_classifier_matches_transformers(
    layout: str,
    checkpoints: dict[tuple[str, str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """EuroBertForSequenceClassification (classifier_pooling mean; the hub's `clf_pooling`) in a
    padded batch against transformers run on the native checkpoint one text at a time."""
    code, out = build(checkpoints[("eurobert-classifier", layout)], tmp_path, capsys)
    assert code == 0, out
    engine, manifest = load_engine(tmp_path / "out", device="cpu")
    assert manifest.profile.task == "classify"
    assert manifest.profile.labels == ("negative", "neutral", "positive")
    texts = [QUERY, *DOCUMENTS]
    tokenizer = TextTokenizer.from_dir(tmp_path / "out" / MODEL_DIR, MAX_SEQ_LENGTH)
    scores = engine.run(Batch.from_sequences(tokenizer.encode(texts, truncate=True))).scores
    assert scores is not None and scores.shape == (len(texts), 3)
    reference = reference_scores(
        checkpoints[("eurobert-classifier", "native")], [(text, None) for text in texts]
    )
    worst = float(np.abs(scores - reference).max())
    print(f"EuroBERT classifier, {layout} layout: max |logit diff| {worst:.2e}")
    assert worst <= SCORE_TOLERANCE


def test_hub_layout_serves_the_native_vectors(
    checkpoints: dict[tuple[str, str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = DOCUMENTS
    for family in EMBEDDER_FAMILIES:
        native = bei_rows(checkpoints[(family, "native")], tmp_path / family / "n", capsys, texts)
        hub = bei_rows(checkpoints[(family, "hub")], tmp_path / family / "h", capsys, texts)
        np.testing.assert_array_equal(native, hub)


def test_gte_ntk_rope_scaling_builds_the_remote_codes_frequencies(
    checkpoints: dict[tuple[str, str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """gte-*-v1.5 / multilingual ship `rope_scaling: {type: ntk, factor: f}`. The remote code and
    TEI compute inv_freq_i = 1 / ((base * f) ** (2i / d)) / f ** (2 / d); written out here
    independently of bei's mapping onto transformers' rope types."""
    import json
    import shutil

    import torch

    hub = tmp_path / "gte-ntk"
    shutil.copytree(checkpoints[("gte", "hub")], hub)
    config = json.loads((hub / "config.json").read_text())
    base, factor = config["rope_theta"], 8.0
    config["rope_scaling"] = {"type": "ntk", "factor": factor}
    (hub / "config.json").write_text(json.dumps(config))
    code, out = build(hub, tmp_path, capsys)
    assert code == 0, out
    engine, _ = load_engine(tmp_path / "out", device="cpu")
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim
    expected = 1.0 / (base * factor) ** exponents / factor ** (2 / head_dim)
    assert isinstance(engine, TorchEngine)
    model: Any = engine.model
    served = model.rotary_emb.inv_freq.double() * model.rotary_emb.attention_scaling
    torch.testing.assert_close(served, expected, rtol=1e-6, atol=0)


@pytest.mark.parametrize("family", EMBEDDER_FAMILIES)
def test_served_over_http_matches_transformers(
    family: str,
    checkpoints: dict[tuple[str, str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The hub layout, built and served on /v1/embeddings as a user calls it."""
    from fastapi.testclient import TestClient

    from bei_cli.server.app import create_app
    from bei_cli.server.settings import ServerSettings

    code, out = build(checkpoints[(family, "hub")], tmp_path, capsys)
    assert code == 0, out
    engine, manifest = load_engine(tmp_path / "out", device="cpu")
    tokenizer = TextTokenizer.from_dir(tmp_path / "out" / MODEL_DIR, manifest.limits.max_seq_len)
    app = create_app(engine, tokenizer, manifest.profile, ServerSettings(tokenization_workers=1))
    with TestClient(app) as client:
        response = client.post("/v1/embeddings", json={"input": DOCUMENTS, "model": "m"})
    assert response.status_code == 200, response.text
    served = np.array([row["embedding"] for row in response.json()["data"]])
    reference = reference_embeddings(checkpoints[(family, "native")], DOCUMENTS)
    cosines = np.sum(served * reference, axis=1) / (
        np.linalg.norm(served, axis=1) * np.linalg.norm(reference, axis=1)
    )
    assert cosines.min() >= COSINE_FLOOR, (family, cosines.min())
