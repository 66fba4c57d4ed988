"""POST /rerank (TEI/BEI bare list) and POST /v1/rerank (Cohere/Jina) on a fake reranker."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bei_cli.server.tokenizer import TextTokenizer
from tests.unit.server.support import AppFactory, RecordingEngine, fake_logits, scoring_model
from tests.unit.server.test_errors import assert_envelope

QUERY = "what is the capital of france?"
TEXTS = ["paris is the capital of france", "bananas are yellow", "france", "a b c"]


def expected_scores(tokenizer: TextTokenizer, texts: list[str], raw: bool = False) -> list[float]:
    encoded = tokenizer.encode_pairs([(QUERY, t) for t in texts], truncate=True)
    logits = [float(fake_logits(ids, 1)[0]) for ids, _ in encoded]
    return logits if raw else [1 / (1 + np.exp(-x)) for x in logits]


@pytest.fixture
def client(make_app: AppFactory) -> Iterator[TestClient]:
    engine, profile = scoring_model("rerank")
    with TestClient(make_app(engine=engine, profile=profile, max_client_batch_size=8)) as c:
        yield c


def test_rerank_is_a_bare_list_sorted_by_sigmoid_score(
    client: TestClient, tokenizer: TextTokenizer
) -> None:
    reply = client.post("/rerank", json={"query": QUERY, "texts": TEXTS})
    assert reply.status_code == 200, reply.text
    results = reply.json()
    expected = expected_scores(tokenizer, TEXTS)
    assert [r["index"] for r in results] == sorted(range(4), key=lambda i: -expected[i])
    for result in results:
        assert set(result) == {"index", "score"}  # text omitted, not null
        assert result["score"] == pytest.approx(expected[result["index"]], abs=1e-6)
        assert 0 < result["score"] < 1
    assert int(reply.headers["x-compute-tokens"]) > 0


def test_raw_scores_and_return_text(client: TestClient, tokenizer: TextTokenizer) -> None:
    body = {"query": QUERY, "texts": TEXTS, "raw_scores": True, "return_text": True}
    results = client.post("/rerank", json=body).json()
    raw = expected_scores(tokenizer, TEXTS, raw=True)
    for result in results:
        assert result["text"] == TEXTS[result["index"]]
        assert result["score"] == pytest.approx(raw[result["index"]], abs=1e-6)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


def test_pairs_carry_token_types_and_truncate_longest_first(
    make_app: AppFactory, tokenizer: TextTokenizer
) -> None:
    inner, profile = scoring_model("rerank")
    engine = RecordingEngine(inner)
    long_text = " ".join(f"w{i}" for i in range(400))
    with TestClient(make_app(engine=engine, profile=profile)) as client:
        ok = client.post("/rerank", json={"query": QUERY, "texts": [long_text], "truncate": True})
        assert ok.status_code == 200
        # absent `truncate` follows the server's auto_truncate (on by default)
        assert client.post("/rerank", json={"query": QUERY, "texts": [long_text]}).is_success
    ids, types = tokenizer.encode_pairs([(QUERY, long_text)], truncate=True)[0]
    assert engine.sequences[0] == ids and engine.type_ids[0] == types
    assert len(ids) == tokenizer.max_seq_len
    query_part = len(tokenizer.encode([QUERY], truncate=True)[0])
    assert types == [0] * query_part + [1] * (len(ids) - query_part)


def test_truncate_false_refuses_long_pairs(client: TestClient) -> None:
    body = {"query": QUERY, "texts": ["word " * 600], "truncate": False}
    assert_envelope(client.post("/rerank", json=body), 422, "texts")


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"query": "", "texts": ["a"]}, 400, "query"),
        ({"query": "q", "texts": []}, 400, "texts"),
        ({"query": "q", "texts": ["a"] * 9}, 413, "texts"),
        ({"query": "q"}, 422, "texts"),
        ({"query": "q", "texts": "a"}, 422, "texts"),
        ({"query": "q", "texts": ["a"], "truncation_direction": "up"}, 422, "truncation_direction"),
    ],
)
def test_bad_rerank_requests(
    client: TestClient, body: dict[str, object], status: int, param: str
) -> None:
    assert_envelope(client.post("/rerank", json=body), status, param)
    assert client.post("/rerank", json={"query": "q", "texts": ["a"]}).status_code == 200


def test_v1_rerank_cohere_shape_with_top_n(client: TestClient, tokenizer: TextTokenizer) -> None:
    documents: list[object] = [TEXTS[0], {"text": TEXTS[1]}, TEXTS[2], {"text": TEXTS[3]}]
    body = {"query": QUERY, "documents": documents, "top_n": 2, "model": "anything"}
    reply = client.post("/v1/rerank", json=body).json()
    assert set(reply) == {"id", "model", "usage", "results"}
    assert reply["model"] == "bei" and reply["id"].startswith("rerank-")
    expected = expected_scores(tokenizer, TEXTS)
    best = sorted(range(4), key=lambda i: -expected[i])[:2]
    assert [r["index"] for r in reply["results"]] == best
    for result in reply["results"]:
        assert result["relevance_score"] == pytest.approx(expected[result["index"]], abs=1e-6)
        assert result["document"] == {"text": TEXTS[result["index"]]}
    pairs = tokenizer.encode_pairs([(QUERY, t) for t in TEXTS], truncate=True)
    assert reply["usage"]["total_tokens"] == sum(len(ids) for ids, _ in pairs)


def test_v1_rerank_without_documents_and_all_results(client: TestClient) -> None:
    body = {"query": QUERY, "documents": TEXTS, "return_documents": False, "top_n": 0}
    results = client.post("/v1/rerank", json=body).json()["results"]
    assert len(results) == 4 and all(set(r) == {"index", "relevance_score"} for r in results)
    scores = [r["relevance_score"] for r in results]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"query": "", "documents": ["a"]}, 400, "query"),
        ({"query": "q", "documents": []}, 400, "documents"),
        ({"query": "q", "documents": ["a"] * 9}, 413, "documents"),
        ({"query": "q", "documents": ["a"], "top_n": -1}, 422, "top_n"),
    ],
)
def test_bad_v1_rerank_requests(
    client: TestClient, body: dict[str, object], status: int, param: str
) -> None:
    assert_envelope(client.post("/v1/rerank", json=body), status, param)
    assert client.post("/v1/rerank", json={"query": "q", "documents": ["a"]}).status_code == 200
