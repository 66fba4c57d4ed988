"""The unmodified `huggingface_hub.InferenceClient` with base_url set to a real `bei serve`
(embedder, classifier, NER): every call goes to `POST /`, dispatched by the body's shape."""

from __future__ import annotations

import numpy as np
import pytest

from bei_cli.engine.postprocess import softmax
from tests.integration.fake_servers import (
    FakeServers,
    assert_close,
    reference_logits,
    reference_vector,
    run_snippet,
)
from tests.unit.server.support import BIO, SCORING_MODELS

pytestmark = pytest.mark.integration


def test_feature_extraction_and_similarity(fake_servers: FakeServers) -> None:
    found = run_snippet("hf-embed", fake_servers("embed").url)
    vectors = np.asarray(found["vectors"])
    assert vectors.shape == (2, 16)
    assert_close(vectors[0], reference_vector("hello world"))
    assert_close(vectors[1], reference_vector("bei serves embeddings"))
    source = reference_vector("hello world")
    want = [float(source @ reference_vector(text)) for text in ("hello there", "goodbye")]
    assert_close(found["scores"], np.asarray(want))


def test_text_classification(fake_servers: FakeServers) -> None:
    labels = SCORING_MODELS["classify"][0]
    found = run_snippet("hf-text-classification", fake_servers("classify").url)
    probs = softmax(reference_logits("I loved this film", labels=len(labels)))
    order = np.argsort(-probs)
    got = found["labels"]
    assert [e.label for e in got] == [labels[i] for i in order]  # type: ignore[attr-defined]
    assert_close([e.score for e in got], probs[order])  # type: ignore[attr-defined]
    (top,) = found["top"]  # type: ignore[misc]
    assert top.label == labels[order[0]]


def test_token_classification(fake_servers: FakeServers) -> None:
    found = run_snippet("hf-token-classification", fake_servers("ner").url)
    for entity in found["entities"]:  # type: ignore[attr-defined]
        assert entity.entity_group in {"PER", "ORG", "LOC"}
        assert entity.word and entity.score is not None and 0 < entity.score <= 1
        assert entity.start < entity.end
    text = "Wolfgang lives in Berlin"
    tokens = found["tokens"]
    assert tokens, "strategy none found no tokens"
    for token in tokens:  # type: ignore[attr-defined]
        assert token.entity in BIO and token.entity != "O"
        assert text[token.start : token.end].lower() == token.word.replace("##", "")
