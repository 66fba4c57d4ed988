"""The unmodified baseten-performance-client against a real uvicorn process on 127.0.0.1
serving fake rerank, classify and NER models: rerank(), classify() and
batch_post("/predict_tokens")."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.unit.server.test_run import start_server, stop

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["rerank", "classify", "ner"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    process, url = start_server(0, task=request.param)
    try:
        yield request.param, url
    finally:
        stop(process)


def test_performance_client(served: tuple[str, str]) -> None:
    from baseten_performance_client import PerformanceClient

    task, url = served
    client = PerformanceClient(base_url=url, api_key="unused")
    texts = [f"document number {i}" for i in range(20)]
    if task == "rerank":
        ranked = client.rerank(query="which document?", texts=texts, return_text=True)
        direct = httpx.post(
            f"{url}/rerank", json={"query": "which document?", "texts": texts}
        ).json()
        scores = {item["index"]: item["score"] for item in direct}
        assert sorted(item.index for item in ranked.data) == list(range(20))
        for item in ranked.data:
            assert item.text == texts[item.index]
            assert item.score == pytest.approx(scores[item.index], abs=1e-6)
    elif task == "classify":
        classified = client.classify(inputs=texts)
        direct = httpx.post(f"{url}/predict", json={"inputs": [[t] for t in texts]}).json()
        assert len(classified.data) == 20
        for got, want in zip(classified.data, direct, strict=True):
            assert [(r.label, pytest.approx(r.score, abs=1e-6)) for r in got] == [
                (w["label"], w["score"]) for w in want
            ]
    else:
        payload = {"inputs": [[texts[0]], [texts[1]]], "aggregation_strategy": "max"}
        posted = client.batch_post("/predict_tokens", [payload, {"inputs": texts[2]}])
        direct = httpx.post(f"{url}/predict_tokens", json=payload).json()
        assert posted.data[0] == direct and len(posted.data[1]) == 1
        assert len(direct) == 2


def test_post_root_serves_the_default_route(served: tuple[str, str]) -> None:
    task, url = served
    body = {
        "rerank": {"query": "q", "texts": ["a", "b"]},
        "classify": {"inputs": [["a"], ["b"]]},
        "ner": {"inputs": ["a", "b"]},
    }[task]
    reply = httpx.post(f"{url}/", json=body)
    assert reply.status_code == 200 and len(reply.json()) == 2
