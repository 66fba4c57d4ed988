"""The unmodified baseten-performance-client, every method (sync and async), against real
`bei serve` embedder, reranker and classifier servers. It sends `Accept: application/json,
application/msgpack`, so these replies travel as MessagePack."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import numpy as np
import pytest
from baseten_performance_client import PerformanceClient, RequestProcessingPreference

from bei_cli.engine.postprocess import sigmoid, softmax
from tests.integration.fake_servers import (
    FakeServers,
    assert_close,
    reference_logits,
    reference_vector,
    run_snippet,
)
from tests.unit.server.support import SCORING_MODELS

pytestmark = pytest.mark.integration

T = TypeVar("T")
TEXTS = [f"document number {i}" for i in range(12)]
QUERY = "which document?"


def in_loop(call: Callable[[], Awaitable[T]]) -> T:
    """The async methods need a running loop when they are called."""

    async def main() -> T:
        return await call()

    return asyncio.run(main())


def batches(size: int) -> RequestProcessingPreference:
    return RequestProcessingPreference(batch_size=size, max_concurrent_requests=3)


def test_snippet_embed_and_batch_post(fake_servers: FakeServers) -> None:
    found = run_snippet("performance-client", fake_servers("embed").url)
    for vector, text in zip(  # type: ignore[call-overload]
        found["vectors"], ["hello world", "bei serves embeddings"], strict=True
    ):
        assert_close(vector, reference_vector(text))
    (reply,) = found["posted"].data  # type: ignore[attr-defined]
    assert_close(reply["data"][0]["embedding"], reference_vector("hello world"))


def test_embed_in_batches_sync_and_async(fake_servers: FakeServers) -> None:
    client = PerformanceClient(base_url=fake_servers("embed").url, api_key="unused")
    sync = client.embed(input=TEXTS, model="m", preference=batches(5))
    later = in_loop(lambda: client.async_embed(input=TEXTS, model="m", preference=batches(4)))
    for reply in (sync, later):
        assert [item.index for item in reply.data] == list(range(len(TEXTS)))
        for item, text in zip(reply.data, TEXTS, strict=True):
            assert_close(item.embedding, reference_vector(text))


def test_rerank_sync_and_async(fake_servers: FakeServers) -> None:
    client = PerformanceClient(base_url=fake_servers("rerank").url, api_key="unused")
    want = [float(sigmoid(reference_logits(QUERY, t, labels=1))[0]) for t in TEXTS]
    sync = client.rerank(query=QUERY, texts=TEXTS, return_text=True, preference=batches(5))
    later = in_loop(lambda: client.async_rerank(query=QUERY, texts=TEXTS, preference=batches(7)))
    for reply in (sync, later):
        assert sorted(item.index for item in reply.data) == list(range(len(TEXTS)))
        for item in reply.data:
            assert item.score == pytest.approx(want[item.index], abs=1e-6)
    assert all(item.text == TEXTS[item.index] for item in sync.data)


def test_classify_sync_and_async(fake_servers: FakeServers) -> None:
    labels = SCORING_MODELS["classify"][0]
    client = PerformanceClient(base_url=fake_servers("classify").url, api_key="unused")
    sync = client.classify(inputs=TEXTS, preference=batches(5))
    later = in_loop(lambda: client.async_classify(inputs=TEXTS, preference=batches(6)))
    for reply in (sync, later):
        assert len(reply.data) == len(TEXTS)
        for got, text in zip(reply.data, TEXTS, strict=True):
            probs = softmax(reference_logits(text, labels=len(labels)))
            order = np.argsort(-probs)
            assert [r.label for r in got] == [labels[i] for i in order]
            assert_close([r.score for r in got], probs[order], tol=1e-6)


def test_async_batch_post(fake_servers: FakeServers) -> None:
    url = fake_servers("embed").url
    client = PerformanceClient(base_url=url, api_key="unused")
    payloads = [{"inputs": [text]} for text in TEXTS[:3]]
    reply = in_loop(lambda: client.async_batch_post("/embed", payloads))
    for vectors, text in zip(reply.data, TEXTS[:3], strict=True):
        assert_close(vectors[0], reference_vector(text))


def test_batch_system_one_is_told_bei_has_no_system_one_route(fake_servers: FakeServers) -> None:
    """`batch_system_one` posts each `{state, questions}` dict to `/v1/systemone`, Baseten's
    System One API, which is not an embedding API: bei answers 404 with its JSON error, the
    client raises HTTPError(404, message) for sync and async alike, and the server serves on."""
    server = fake_servers("embed")
    client = PerformanceClient(base_url=server.url, api_key="unused")
    requests = [{"state": "the doc", "questions": ["what is it?"]}]
    for call in (
        lambda: client.batch_system_one(requests),
        lambda: in_loop(lambda: client.async_batch_system_one(requests)),
    ):
        with pytest.raises(Exception, match="404") as raised:
            call()
        status, message = raised.value.args
        assert status == 404 and "/v1/systemone" in message and '"error"' in message
    with pytest.raises(ValueError, match="empty"):
        client.batch_system_one([])
    reply = client.embed(input=["hello world"], model="m")
    assert_close(reply.data[0].embedding, reference_vector("hello world"))


def test_the_client_gets_msgpack(fake_servers: FakeServers) -> None:
    """What the client's Accept header gets from bei: MessagePack (it decodes it above)."""
    accept = "application/json, application/msgpack"
    reply = httpx.post(
        f"{fake_servers('embed').url}/v1/embeddings",
        json={"input": "hello world"},
        headers={"accept": accept},
    )
    assert reply.headers["content-type"] == "application/msgpack"


def test_every_method_over_http2(fake_servers: FakeServers) -> None:
    """`http_version=2` speaks HTTP/2 with prior knowledge (h2c): bei serve answers it, with the
    same values as over HTTP/1.1."""

    def client(task: str) -> PerformanceClient:
        return PerformanceClient(base_url=fake_servers(task).url, api_key="unused", http_version=2)

    embedded = client("embed").embed(input=TEXTS[:3], model="m", preference=batches(2))
    for item, text in zip(embedded.data, TEXTS[:3], strict=True):
        assert_close(item.embedding, reference_vector(text))
    (posted,) = client("embed").batch_post("/embed", [{"inputs": [TEXTS[0]]}]).data
    assert_close(posted[0], reference_vector(TEXTS[0]))
    ranked = client("rerank").rerank(query=QUERY, texts=TEXTS[:3])
    for item in ranked.data:
        want = sigmoid(reference_logits(QUERY, TEXTS[item.index], labels=1))[0]
        assert item.score == pytest.approx(float(want), abs=1e-6)
    labels = SCORING_MODELS["classify"][0]
    (scores,) = client("classify").classify(inputs=[TEXTS[0]]).data
    probs = softmax(reference_logits(TEXTS[0], labels=len(labels)))
    want = {label: float(p) for label, p in zip(labels, probs, strict=True)}
    assert {r.label: r.score for r in scores} == pytest.approx(want, abs=1e-6)
    with pytest.raises(Exception, match="404"):
        client("embed").batch_system_one([{"state": "s", "questions": ["q"]}])
