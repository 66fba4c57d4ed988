"""jina-reranker-v1 (JinaBertForSequenceClassification under jinaai/jina-bert-implementation): a
tiny checkpoint in the hub's layout, built with `bei build` and served by the torch engine as a
cross-encoder, against the math written out in plain float64 torch ops from the checkpoint's
tensors (tests/unit/engine/jina_reference.py: the Jina-BERT v2 encoder, then
classifier(tanh(pooler.dense(first token)))). No transformers class exists to compare with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bei_cli.engine.artifact import MODEL_DIR, load_engine
from bei_cli.engine.base import Batch
from bei_cli.engine.postprocess import sigmoid
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.jina_bert import make_jina_reranker
from tests.unit.engine.jina_reference import MAX_SEQ_LENGTH, Reference
from tests.unit.inspect.test_refusals import UNSUPPORTED, build, inspect

SCORE_TOLERANCE = 1e-4  # |score diff|, per docs/models.md
QUERY = "What is the capital of France?"
DOCUMENTS = [
    "Paris is the capital of France.",
    "a",
    "Berlin is in Germany. " * 10,
    "日本語 🚀",
    "def capital(country):\n    return CAPITALS[country]",
]


def reference_scores(model: Path, pairs: list[tuple[str, str]], heads: int = 6) -> np.ndarray:
    return Reference(model, heads=heads, ffn="geglu", qk_post_norm=False).scores(pairs)


def served_scores(tmp_path: Path, pairs: list[tuple[str, str]]) -> np.ndarray:
    engine, _ = load_engine(tmp_path / "out", device="cpu")
    tokenizer = TextTokenizer.from_dir(tmp_path / "out" / MODEL_DIR, MAX_SEQ_LENGTH)
    encoded = tokenizer.encode_pairs(list(pairs), truncate=True)
    batch = Batch.from_sequences([ids for ids, _ in encoded], [types for _, types in encoded])
    scores = engine.run(batch).scores  # one padded batch: the mask is exercised
    assert scores is not None
    return scores


@pytest.mark.parametrize("heads", [6, 4])
def test_reranker_matches_the_reference_math(
    heads: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_jina_reranker(tmp_path / "reranker", num_attention_heads=heads)
    code, out = inspect(model, capsys)
    assert code == 0, out
    assert "JinaBertForSequenceClassification (jina_bert)" in out and "Jina-BERT v2" in out
    assert "task rerank" in out
    code, out = build(model, tmp_path, capsys)
    assert code == 0, out
    _, manifest = load_engine(tmp_path / "out", device="cpu")
    assert manifest.profile.task == "rerank"
    pairs = [(QUERY, doc) for doc in DOCUMENTS]
    served, reference = served_scores(tmp_path, pairs), reference_scores(model, pairs, heads)
    assert served.shape == (len(pairs), 1)
    assert np.abs(served - reference).max() <= SCORE_TOLERANCE
    # The test can fail: the documents' scores are far apart, and the query/document segments
    # matter (token type 1 for the document).
    assert np.ptp(reference) > 100 * SCORE_TOLERANCE
    one_segment = Reference(model, heads=heads, ffn="geglu", qk_post_norm=False)
    one_segment.w["bert.embeddings.token_type_embeddings.weight"][1] = one_segment.w[
        "bert.embeddings.token_type_embeddings.weight"
    ][0]
    assert np.abs(one_segment.scores(pairs) - reference).max() > 100 * SCORE_TOLERANCE


def test_rerank_route_sigmoids_the_logit_unless_raw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Served on /rerank as the other cross-encoders are: sigmoid(logit) (sentence-transformers'
    CrossEncoder default for one label, TEI's), the logit itself with raw_scores."""
    from fastapi.testclient import TestClient

    from bei_cli.server.app import create_app
    from bei_cli.server.settings import ServerSettings

    model = make_jina_reranker(tmp_path / "reranker")
    code, out = build(model, tmp_path, capsys)
    assert code == 0, out
    engine, manifest = load_engine(tmp_path / "out", device="cpu")
    tokenizer = TextTokenizer.from_dir(tmp_path / "out" / MODEL_DIR, manifest.limits.max_seq_len)
    app = create_app(engine, tokenizer, manifest.profile, ServerSettings(tokenization_workers=1))
    logits = reference_scores(model, [(QUERY, doc) for doc in DOCUMENTS])[:, 0]
    with TestClient(app) as client:
        for raw, expected in ((False, sigmoid(logits)), (True, logits)):
            body = {"query": QUERY, "texts": DOCUMENTS, "raw_scores": raw}
            response = client.post("/rerank", json=body)
            assert response.status_code == 200, response.text
            scores = {row["index"]: row["score"] for row in response.json()}
            got = np.array([scores[i] for i in range(len(DOCUMENTS))])
            assert np.abs(got - expected).max() <= SCORE_TOLERANCE, raw


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"id2label": {"0": "no", "1": "yes"}, "label2id": None}, "id2label"),
        ({"id2label": None, "label2id": None, "num_labels": 3}, "num_labels: 3"),
        ({"id2label": None, "label2id": None}, "num_labels: None: must be stated"),
        ({"feed_forward_type": "swiglu"}, "feed_forward_type: 'swiglu'"),
        ({"pooler_type": "mean"}, "pooler_type"),  # a key bei does not know
    ],
)
def test_reranker_settings_it_does_not_implement_are_refused(
    overrides: dict[str, object], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_jina_reranker(tmp_path / "reranker")

    config = json.loads((model / "config.json").read_text())
    config.update(overrides)
    (model / "config.json").write_text(
        json.dumps({k: v for k, v in config.items() if v is not None})
    )
    code, out = inspect(model, capsys)
    assert code == UNSUPPORTED, out
    assert named in out


@pytest.mark.parametrize("change", ["missing pooler", "extra masked-LM head"])
def test_reranker_weights_must_match_exactly(
    change: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reranker uses every tensor: no pooler is left random, no head is dropped."""
    from safetensors.torch import load_file, save_file

    model = make_jina_reranker(tmp_path / "reranker")
    weights = load_file(model / "model.safetensors")
    if change == "missing pooler":
        del weights["bert.pooler.dense.weight"]
        expected = "missing weights (would be random): bert.pooler.dense.weight"
    else:
        weights["cls.predictions.decoder.bias"] = weights["classifier.bias"].repeat(10)
        expected = "no place for: cls.predictions.decoder.bias"
    save_file(weights, str(model / "model.safetensors"), metadata={"format": "pt"})
    code, out = build(model, tmp_path, capsys)
    assert code == UNSUPPORTED, out
    assert expected in out


def test_graph_path_additive_mask_gives_the_plain_scores(tmp_path: Path) -> None:
    """CUDA graphs call the model with a 4-D additive mask (cuda_graphs.MaskedForward); on the
    CPU the same call must give the 0/1-mask forward's logits, padded rows included."""
    import torch

    from bei_cli.engine.cuda_graphs import MaskedForward
    from bei_cli.engine.families.jina_bert import load_jina_bert

    model = load_jina_bert(make_jina_reranker(tmp_path / "reranker"), torch.float32)
    ids = torch.tensor([[101, 2000, 102, 2001, 2002, 102], [101, 2003, 102, 2004, 102, 0]])
    types = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0]])
    inputs = {"input_ids": ids, "attention_mask": (ids != 0).long(), "token_type_ids": types}
    with torch.inference_mode():
        plain = model(**inputs).logits
        graphed = MaskedForward(model, False, torch.float32)(inputs).logits
    torch.testing.assert_close(graphed, plain, rtol=1e-5, atol=1e-5)
