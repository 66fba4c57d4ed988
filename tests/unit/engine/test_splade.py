"""SPLADE: a tiny sentence-transformers SparseEncoder (MLMTransformer + SpladePooling) built with
`bei build`, served on TEI's /embed_sparse by the real torch engine, against
`SparseEncoder.encode` on the same checkpoint; dense routes on it answer 424 naming
/embed_sparse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bei_cli.engine.artifact import MODEL_DIR, load_engine
from bei_cli.inspect import inspect_checkpoint
from bei_cli.server.app import create_app
from bei_cli.server.settings import ServerSettings
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.sparse import make_tiny_splade
from tests.unit.inspect.test_refusals import build

TEXTS = [
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "a",
    "Ünïcödé façade — 日本語 and emoji 🚀",
    "A long paragraph about sparse retrieval. " * 12,
]
VALUE_TOLERANCE = 1e-4


@pytest.fixture(
    scope="module",
    params=[("max", "relu", False), ("sum", "log1p_relu", False), ("max", "relu", True)],
    ids=["max-relu", "sum-log1p_relu", "st6-fill-mask"],
)
def splade(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pooling, activation, fill_mask = request.param
    root = tmp_path_factory.mktemp(f"splade-{pooling}")
    return make_tiny_splade(
        root / "splade", pooling=pooling, activation=activation, fill_mask_transformer=fill_mask
    )


@pytest.fixture(scope="module")
def client(
    splade: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Path]]:
    out = tmp_path_factory.mktemp("splade-build")
    code, text = build(splade, out, _NoCapture())  # type: ignore[arg-type]  # no capsys here
    assert code == 0, text
    engine, manifest = load_engine(out / "out", device="cpu")
    tokenizer = TextTokenizer.from_dir(out / "out" / MODEL_DIR, manifest.limits.max_seq_len)
    app = create_app(engine, tokenizer, manifest.profile, ServerSettings(tokenization_workers=1))
    with TestClient(app) as test_client:
        yield test_client, splade


class _NoCapture:
    """Stands in for capsys in a module-scoped fixture: build() only reads its output."""

    def readouterr(self) -> object:
        class Captured:
            out = ""
            err = ""

        return Captured()


def reference(model_dir: Path, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SparseEncoder

    model = SparseEncoder(str(model_dir), device="cpu")
    encoded = model.encode(texts, batch_size=2, convert_to_tensor=True)
    return np.asarray(encoded.to_dense().cpu().numpy())


def test_inspect_reads_a_sparse_encoder(splade: Path) -> None:
    profile = inspect_checkpoint(splade, base_model="encoder_bert")
    assert profile.task == "sparse_embed"
    assert profile.embedding_dim == 30522
    assert profile.splade_pooling in ("max", "sum")
    assert profile.max_seq_len <= 512


def test_embed_sparse_matches_sparse_encoder(client: tuple[TestClient, Path]) -> None:
    test_client, model_dir = client
    response = test_client.post("/embed_sparse", json={"inputs": TEXTS})
    assert response.status_code == 200, response.text
    want = reference(model_dir, TEXTS)
    for row, got in zip(want, response.json(), strict=True):
        indices = [entry["index"] for entry in got]
        assert indices  # a random MLM head activates many vocabulary entries
        assert indices == sorted(indices)
        assert indices == np.flatnonzero(row > 0).tolist()  # the same non-zeros, no more
        values = np.array([entry["value"] for entry in got])
        assert np.abs(values - row[indices]).max() <= VALUE_TOLERANCE


def test_embed_sparse_top_k_keeps_the_largest(client: tuple[TestClient, Path]) -> None:
    test_client, model_dir = client
    response = test_client.post("/embed_sparse", json={"inputs": TEXTS[1], "top_k": 5})
    assert response.status_code == 200, response.text
    (got,) = response.json()
    row = reference(model_dir, [TEXTS[1]])[0]
    assert len(got) == 5
    assert {e["index"] for e in got} == set(np.argsort(-row)[:5].tolist())


@pytest.mark.parametrize("route", ["/embed", "/v1/embeddings"])
def test_dense_routes_answer_424_naming_embed_sparse(
    route: str, client: tuple[TestClient, Path]
) -> None:
    test_client, _ = client
    body = {"inputs": "hello"} if route == "/embed" else {"input": "hello", "model": "m"}
    response = test_client.post(route, json=body)
    assert response.status_code == 424, response.text
    assert "/embed_sparse" in response.text and "sparse (SPLADE)" in response.text


def test_info_reports_splade_pooling(client: tuple[TestClient, Path]) -> None:
    test_client, _ = client
    response = test_client.get("/info")
    assert response.status_code == 200, response.text
    assert response.json()["model_type"] == {"embedding": {"pooling": "splade"}}
