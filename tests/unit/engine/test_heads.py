"""Classify / rerank / NER heads of the torch engine vs transformers, its pipelines and
sentence-transformers' CrossEncoder, on tiny generated checkpoints (MiniLM-sized ones under
the integration marker)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from bei_cli.engine.base import Batch
from bei_cli.engine.heads import TokenScoresHead
from bei_cli.engine.postprocess import activate, softmax
from bei_cli.engine.torch_engine import TorchEngine, load_torch_engine
from bei_cli.errors import UnsupportedModelError
from bei_cli.inspect import inspect_checkpoint
from bei_cli.inspect.profile import ModelProfile
from tests.fixtures.heads import HeadCheckpoints
from tests.unit.engine.helpers import PARITY_TEXTS

MAX_LEN = 128
TOLERANCE = 1e-4
QUERY = "What is the capital of France?"
DOCUMENTS = [
    "Paris is the capital and largest city of France.",
    "The Eiffel Tower was completed in 1889.",
    "Berlin is the capital of Germany.",
    "a",
    "Photosynthesis converts light energy into chemical energy. " * 12,
    "Ünïcödé façade — 日本語 and emoji 🚀",
]
NER_TEXTS = [
    "My name is Wolfgang and I live in Berlin.",
    "Sarah Connor works at Cyberdyne Systems in Los Angeles.",
    "hello",
    "Ünïcödé Zürich, 東京 and New York City!",
]
SEQUENCE_MODELS = ["tiny-reranker", "tiny-classifier", "tiny-single-label", "tiny-multi-label"]


@pytest.fixture(scope="session")
def heads(tmp_path_factory: pytest.TempPathFactory) -> HeadCheckpoints:
    return HeadCheckpoints(tmp_path_factory.mktemp("heads"))


def checkpoint(heads: HeadCheckpoints, name: str) -> tuple[Path, ModelProfile]:
    model_dir = heads(name)
    return model_dir, inspect_checkpoint(model_dir, base_model="encoder_bert")


def tokenized(model_dir: Path, texts: list[str], pairs: list[str] | None = None) -> Batch:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    encoded = tokenizer(texts, pairs, truncation=True, max_length=MAX_LEN)
    return Batch.from_sequences(encoded["input_ids"], encoded["token_type_ids"])


def reference_logits(
    model_dir: Path, auto_class: str, texts: list[str], pairs: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(logits, attention_mask) of transformers itself on one right-padded batch."""
    import transformers
    from transformers import AutoTokenizer

    model = getattr(transformers, auto_class).from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    encoded = tokenizer(
        texts, pairs, truncation=True, max_length=MAX_LEN, padding=True, return_tensors="pt"
    )
    with torch.inference_mode():
        logits = model(**encoded).logits
    return logits.numpy(), encoded["attention_mask"].numpy()


def scores_of(engine: TorchEngine, batch: Batch) -> np.ndarray:
    scores = engine.run(batch).scores
    assert scores is not None and scores.dtype == np.float32
    return scores


# --- activation rules ---------------------------------------------------------------------------

LOGITS = np.array([[2.0, -1.0, 0.5], [-3.0, 0.0, 4.0]], dtype=np.float32)


@pytest.mark.parametrize(
    ("logits", "problem_type", "expected"),
    [
        (LOGITS, None, "softmax"),
        (LOGITS, "single_label_classification", "softmax"),
        (LOGITS, "multi_label_classification", "sigmoid"),
        (LOGITS[:, :1], None, "sigmoid"),
        (LOGITS[:, :1], "single_label_classification", "sigmoid"),
        (LOGITS, "regression", "none"),
        (LOGITS[:, :1], "regression", "none"),
    ],
)
def test_activate_follows_the_text_classification_pipeline(
    logits: np.ndarray, problem_type: str | None, expected: str
) -> None:
    reference = {
        "softmax": torch.softmax(torch.from_numpy(logits), -1).numpy(),
        "sigmoid": torch.sigmoid(torch.from_numpy(logits)).numpy(),
        "none": logits,
    }[expected]
    got = activate(logits, problem_type=problem_type, raw=False)
    np.testing.assert_allclose(got, reference, atol=1e-7)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(activate(logits, problem_type=problem_type, raw=True), logits)


# --- raw logits vs transformers -----------------------------------------------------------------


@pytest.mark.parametrize("name", SEQUENCE_MODELS)
def test_sequence_logits_match_transformers(heads: HeadCheckpoints, name: str) -> None:
    model_dir, profile = checkpoint(heads, name)
    engine = load_torch_engine(model_dir, profile)
    assert engine.info.labels == profile.labels and engine.info.embedding_dim == len(profile.labels)
    singles = scores_of(engine, tokenized(model_dir, PARITY_TEXTS))
    expected, _ = reference_logits(model_dir, "AutoModelForSequenceClassification", PARITY_TEXTS)
    assert singles.shape == (len(PARITY_TEXTS), len(profile.labels))
    assert np.abs(singles - expected).max() <= TOLERANCE
    queries = [QUERY] * len(DOCUMENTS)
    pairs = scores_of(engine, tokenized(model_dir, queries, DOCUMENTS))
    expected, _ = reference_logits(
        model_dir, "AutoModelForSequenceClassification", queries, DOCUMENTS
    )
    assert np.abs(pairs - expected).max() <= TOLERANCE


def test_segment_ids_reach_the_model(heads: HeadCheckpoints) -> None:
    """A pair scored with BERT's segment B ids differs from the same tokens all in segment A."""
    model_dir, profile = checkpoint(heads, "tiny-reranker")
    engine = load_torch_engine(model_dir, profile)
    batch = tokenized(model_dir, [QUERY], DOCUMENTS[:1])
    assert batch.token_type_ids is not None and batch.token_type_ids.max() == 1
    flat = Batch(input_ids=batch.input_ids, offsets=batch.offsets)
    assert np.abs(scores_of(engine, batch) - scores_of(engine, flat)).max() > 1e-4


def test_token_logits_match_transformers(heads: HeadCheckpoints) -> None:
    model_dir, profile = checkpoint(heads, "tiny-ner")
    engine = load_torch_engine(model_dir, profile)
    batch = tokenized(model_dir, NER_TEXTS)
    output = engine.run(batch).token_scores
    expected, mask = reference_logits(model_dir, "AutoModelForTokenClassification", NER_TEXTS)
    assert output is not None and len(output) == len(NER_TEXTS)
    for i, rows in enumerate(output):
        assert rows.shape == (len(batch.sequence(i)), len(profile.labels))
        assert np.abs(rows - expected[i][mask[i] == 1]).max() <= TOLERANCE


@pytest.mark.parametrize("name", ["tiny-classifier", "tiny-ner"])
def test_padding_does_not_change_results(heads: HeadCheckpoints, name: str) -> None:
    model_dir, profile = checkpoint(heads, name)
    engine = load_torch_engine(model_dir, profile)
    batch = tokenized(model_dir, NER_TEXTS + PARITY_TEXTS[:4])
    together = engine.run(batch)
    for i in range(len(batch)):
        alone = engine.run(Batch.from_sequences([batch.sequence(i).tolist()]))
        if together.scores is not None and alone.scores is not None:
            np.testing.assert_allclose(together.scores[i], alone.scores[0], atol=1e-5)
        else:
            assert together.token_scores is not None and alone.token_scores is not None
            np.testing.assert_allclose(together.token_scores[i], alone.token_scores[0], atol=1e-5)


@pytest.mark.parametrize("side", ["right", "left"])
def test_token_head_drops_padding_on_either_side(side: str) -> None:
    """Causal families pad on the left; the token rows must still come back in input order."""
    lengths, width = [3, 5, 1], 5
    spans = [slice(width - n, width) if side == "left" else slice(0, n) for n in lengths]
    logits = torch.arange(len(lengths) * width * 2, dtype=torch.float32).reshape(-1, width, 2)
    mask = torch.zeros(len(lengths), width, dtype=torch.int64)
    for i, span in enumerate(spans):
        mask[i, span] = 1
    rows = TokenScoresHead(num_labels=2)(SimpleNamespace(logits=logits), mask).token_scores
    assert rows is not None and len(rows) == len(lengths)
    for i, span in enumerate(spans):
        np.testing.assert_array_equal(rows[i], logits[i, span].numpy())


def test_empty_batches(heads: HeadCheckpoints) -> None:
    for name, labels in (("tiny-reranker", 1), ("tiny-multi-label", 3)):
        engine = load_torch_engine(*checkpoint(heads, name))
        empty = engine.run(Batch.from_sequences([])).scores
        assert empty is not None and empty.shape == (0, labels)
    ner = load_torch_engine(*checkpoint(heads, "tiny-ner"))
    assert ner.run(Batch.from_sequences([])).token_scores == ()


def test_labels_must_match_the_classifier(heads: HeadCheckpoints) -> None:
    model_dir, profile = checkpoint(heads, "tiny-classifier")
    two = type(profile)(**{**vars(profile), "id2label": ((0, "a"), (1, "b"))})
    with pytest.raises(UnsupportedModelError, match="3 outputs") as caught:
        load_torch_engine(model_dir, two)
    assert caught.value.hint is not None and "id2label" in caught.value.hint
    unlabeled = type(profile)(**{**vars(profile), "id2label": ()})
    with pytest.raises(UnsupportedModelError, match="without labels"):
        load_torch_engine(model_dir, unlabeled)


# --- activated scores vs the reference implementations ------------------------------------------


def check_cross_encoder(model_dir: Path, profile: ModelProfile) -> None:
    from sentence_transformers import CrossEncoder

    engine = load_torch_engine(model_dir, profile)
    queries = [QUERY] * len(DOCUMENTS)
    logits = scores_of(engine, tokenized(model_dir, queries, DOCUMENTS))
    cross_encoder = CrossEncoder(str(model_dir), device="cpu", max_length=MAX_LEN)
    expected = cross_encoder.predict(list(zip(queries, DOCUMENTS, strict=True)))
    got = activate(logits, problem_type=profile.problem_type, raw=False)[:, 0]
    assert np.abs(got - expected).max() <= TOLERANCE
    raw = cross_encoder.predict(
        list(zip(queries, DOCUMENTS, strict=True)), activation_fn=torch.nn.Identity()
    )
    assert np.abs(activate(logits, problem_type=None, raw=True)[:, 0] - raw).max() <= TOLERANCE


def check_text_classification(model_dir: Path, profile: ModelProfile) -> None:
    from transformers import pipeline

    engine = load_torch_engine(model_dir, profile)
    logits = scores_of(engine, tokenized(model_dir, PARITY_TEXTS))
    scores = activate(logits, problem_type=profile.problem_type, raw=False)
    classifier = pipeline("text-classification", model=str(model_dir), device="cpu", top_k=None)
    results: list[list[dict[str, Any]]] = classifier(
        PARITY_TEXTS, truncation=True, max_length=MAX_LEN
    )
    for row, result in zip(scores, results, strict=True):
        expected = {item["label"]: item["score"] for item in result}
        got = dict(zip(profile.labels, row.tolist(), strict=True))
        assert got.keys() == expected.keys()
        assert max(abs(got[label] - expected[label]) for label in got) <= TOLERANCE
        assert profile.labels[int(np.argmax(row))] == result[0]["label"]


def check_token_classification(model_dir: Path, profile: ModelProfile) -> None:
    """aggregation_strategy none: each token's score is softmax(logits)[token index, label]."""
    from transformers import pipeline

    engine = load_torch_engine(model_dir, profile)
    token_scores = engine.run(tokenized(model_dir, NER_TEXTS)).token_scores
    assert token_scores is not None
    tagger = pipeline("token-classification", model=str(model_dir), device="cpu")
    for rows, entities in zip(token_scores, tagger(NER_TEXTS, ignore_labels=[]), strict=True):
        probabilities = softmax(rows)
        assert len(entities) == len(rows) - 2  # every token but [CLS] and [SEP]
        for entity in entities:
            label = int(np.argmax(probabilities[entity["index"]]))
            assert entity["entity"] == profile.labels[label]
            assert abs(entity["score"] - probabilities[entity["index"], label]) <= TOLERANCE


def test_cross_encoder_scores(heads: HeadCheckpoints) -> None:
    check_cross_encoder(*checkpoint(heads, "tiny-reranker"))


@pytest.mark.parametrize("name", SEQUENCE_MODELS)
def test_text_classification_pipeline_scores(heads: HeadCheckpoints, name: str) -> None:
    check_text_classification(*checkpoint(heads, name))


def test_token_classification_pipeline_scores(heads: HeadCheckpoints) -> None:
    check_token_classification(*checkpoint(heads, "tiny-ner"))


@pytest.mark.integration
def test_minilm_heads_match_the_references(heads: HeadCheckpoints) -> None:
    """The real MiniLM encoder under random heads: realistic depth, width and score spread."""
    reranker = checkpoint(heads, "minilm-reranker")
    check_cross_encoder(*reranker)
    check_text_classification(*reranker)
    check_text_classification(*checkpoint(heads, "minilm-classifier"))
    check_token_classification(*checkpoint(heads, "minilm-ner"))
    model_dir, profile = checkpoint(heads, "minilm-ner")
    got = load_torch_engine(model_dir, profile).run(tokenized(model_dir, NER_TEXTS)).token_scores
    expected, mask = reference_logits(model_dir, "AutoModelForTokenClassification", NER_TEXTS)
    assert got is not None
    for i, rows in enumerate(got):
        assert np.abs(rows - expected[i][mask[i] == 1]).max() <= TOLERANCE
