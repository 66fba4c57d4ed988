"""Rerank, classify and NER end to end: the real MiniLM encoder with a seeded random head,
built by `bei build` from a LOCAL checkpoint and served by `bei serve`, checked against
sentence-transformers' CrossEncoder and transformers' pipelines through the unmodified
baseten-performance-client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.fixtures.heads import HeadCheckpoints
from tests.integration.conftest import ServerProcess, build_from_yaml, local_config

pytestmark = pytest.mark.integration

QUERY = "Which city is the capital of Germany?"
DOCS = [
    "Berlin is the capital and largest city of Germany.",
    "Paris is known for the Eiffel Tower.",
    "The quick brown fox jumps over the lazy dog.",
    "Germany's capital, Berlin, has 3.7 million inhabitants.",
    "Bananas are rich in potassium.",
]
TEXTS = [
    "I absolutely loved this film, the acting was superb!",
    "Terrible service, I will never come back.",
    "It was fine, nothing special.",
    "Ünïcödé and emoji 🚀 still classify.",
]
NER_TEXTS = [
    "My name is Wolfgang and I live in Berlin.",
    "Angela Merkel met Emmanuel Macron at the Élysée Palace in Paris.",
    "Hugging Face Inc. is a company based in New York City.",
    "sarah works for acme corp in london",
]
STRATEGIES = ["none", "simple", "first", "average", "max"]
PIN_FP32 = "bei: {engine: torch, dtype: float32}\n"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> HeadCheckpoints:
    return HeadCheckpoints(tmp_path_factory.mktemp("heads"))


def served_head(
    checkpoints: HeadCheckpoints,
    tmp_path_factory: pytest.TempPathFactory,
    env: dict[str, str],
    name: str,
    route: str,
) -> Iterator[tuple[ServerProcess, Path]]:
    """Build the named head checkpoint as an artifact, serve it, stop it afterwards. The engine
    and dtype are pinned to the fp32 torch reference: these tests check fp32 parity, which a
    CPU with native bf16 would otherwise trade for speed under `engine: auto`."""
    model_dir = checkpoints(name)
    config = local_config(model_dir, base_model="encoder_bert", route=route) + PIN_FP32
    server = ServerProcess(build_from_yaml(tmp_path_factory.mktemp(name), env, config), env)
    yield server, model_dir
    server.stop()


@pytest.fixture(scope="module")
def reranker(checkpoints, tmp_path_factory, hub_env) -> Iterator[tuple[ServerProcess, Path]]:  # type: ignore[no-untyped-def]
    yield from served_head(checkpoints, tmp_path_factory, hub_env, "minilm-reranker", "/rerank")


@pytest.fixture(scope="module")
def classifier(checkpoints, tmp_path_factory, hub_env) -> Iterator[tuple[ServerProcess, Path]]:  # type: ignore[no-untyped-def]
    yield from served_head(checkpoints, tmp_path_factory, hub_env, "minilm-classifier", "/predict")


@pytest.fixture(scope="module")
def ner(checkpoints, tmp_path_factory, hub_env) -> Iterator[tuple[ServerProcess, Path]]:  # type: ignore[no-untyped-def]
    yield from served_head(checkpoints, tmp_path_factory, hub_env, "minilm-ner", "/predict_tokens")


def performance_client(server: ServerProcess):  # type: ignore[no-untyped-def]
    from baseten_performance_client import PerformanceClient

    return PerformanceClient(base_url=server.url, api_key="unused")


def test_rerank_matches_cross_encoder(reranker) -> None:  # type: ignore[no-untyped-def]
    from sentence_transformers import CrossEncoder

    server, model_dir = reranker
    expected = CrossEncoder(str(model_dir), device="cpu").predict([(QUERY, d) for d in DOCS])
    response = performance_client(server).rerank(query=QUERY, texts=DOCS, return_text=True)
    got = {r.index: r.score for r in response.data}
    assert sorted(got) == list(range(len(DOCS)))
    np.testing.assert_allclose([got[i] for i in range(len(DOCS))], expected, atol=1e-4)
    scores = [r.score for r in response.data]
    assert scores == sorted(scores, reverse=True)
    assert all(r.text == DOCS[r.index] for r in response.data)


def test_cohere_style_rerank(reranker) -> None:  # type: ignore[no-untyped-def]
    server, _ = reranker
    body = {"query": QUERY, "documents": DOCS, "top_n": 2, "return_documents": True}
    response = httpx.post(f"{server.url}/v1/rerank", json=body, timeout=60)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 2
    assert results[0]["relevance_score"] >= results[1]["relevance_score"]
    assert results[0]["document"]["text"] == DOCS[results[0]["index"]]


def test_classify_matches_text_classification_pipeline(classifier) -> None:  # type: ignore[no-untyped-def]
    from transformers import pipeline

    server, model_dir = classifier
    reference = pipeline("text-classification", model=str(model_dir), top_k=None, device="cpu")
    expected = reference(TEXTS)
    response = performance_client(server).classify(inputs=TEXTS)
    assert len(response.data) == len(TEXTS)
    for got, want in zip(response.data, expected, strict=True):
        got_scores = {r.label: r.score for r in got}
        want_scores = {w["label"]: w["score"] for w in want}
        assert got_scores.keys() == want_scores.keys()
        assert got[0].label == want[0]["label"]
        for label, score in want_scores.items():
            assert abs(got_scores[label] - score) <= 1e-4


def test_ner_matches_token_classification_pipeline(ner) -> None:  # type: ignore[no-untyped-def]
    from transformers import pipeline

    server, model_dir = ner
    client = performance_client(server)
    for strategy in STRATEGIES:
        reference = pipeline(
            "token-classification", model=str(model_dir), aggregation_strategy=strategy
        )
        payloads = [{"inputs": [[text]], "aggregation_strategy": strategy} for text in NER_TEXTS]
        response = client.batch_post("/predict_tokens", payloads)
        for text, body in zip(NER_TEXTS, response.data, strict=True):
            got = body[0]
            want = reference(text)
            assert len(got) == len(want), (strategy, text, got, want)
            for g, w in zip(got, want, strict=True):
                label = w.get("entity_group", w.get("entity"))
                assert (g["start"], g["end"]) == (w["start"], w["end"]), (strategy, g, w)
                assert list(g["results"]) == [label], (strategy, g, w)
                assert abs(g["results"][label] - float(w["score"])) <= 1e-4


def test_routes_the_model_cannot_serve_name_the_ones_it_can(reranker, classifier) -> None:  # type: ignore[no-untyped-def]
    server, _ = reranker
    response = httpx.post(f"{server.url}/v1/embeddings", json={"input": "x"})
    assert 400 <= response.status_code < 500
    assert "/rerank" in response.json()["error"]["message"]
    server, _ = classifier
    response = httpx.post(f"{server.url}/rerank", json={"query": "q", "texts": ["a"]})
    assert 400 <= response.status_code < 500
    assert "/predict" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("route", "body", "status"),
    [
        ("/rerank", {"query": "", "texts": ["a"]}, 400),
        ("/rerank", {"query": "q", "texts": []}, 400),
        ("/rerank", {"query": "q", "texts": ["a"] * 1025}, 413),
        ("/rerank", {"query": "q", "texts": "not a list"}, 422),
    ],
)
def test_bad_rerank_requests(reranker, route, body, status) -> None:  # type: ignore[no-untyped-def]
    server, _ = reranker
    response = httpx.post(f"{server.url}{route}", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]


def test_bad_predict_and_ner_requests(classifier, ner) -> None:  # type: ignore[no-untyped-def]
    server, _ = classifier
    three = httpx.post(f"{server.url}/predict", json={"inputs": [["a", "b", "c"]]})
    assert three.status_code == 422 and three.json()["error"]["message"]
    server, _ = ner
    unknown = httpx.post(
        f"{server.url}/predict_tokens", json={"inputs": ["a"], "aggregation_strategy": "best"}
    )
    assert unknown.status_code == 422 and "simple" in unknown.json()["error"]["message"]
    assert (
        httpx.post(f"{server.url}/predict_tokens", json={"inputs": ["Berlin"]}).status_code == 200
    )
