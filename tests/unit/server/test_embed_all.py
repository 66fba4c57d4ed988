"""POST /embed_all (TEI): every token's vector, on a FakeEngine whose token rows are known."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

import msgpack
import numpy as np
import pytest
from fastapi.testclient import TestClient

from bei_cli.engine.base import Batch, EngineInfo, Output
from bei_cli.engine.fake import FakeEngine, fake_info, token_vector
from bei_cli.runtime.batcher import Batcher
from bei_cli.server.tokenizer import TextTokenizer
from tests.unit.server.support import (
    DIM,
    MAX_SEQ_LEN,
    AppFactory,
    expected_vector,
    make_engine,
    scoring_model,
)


def token_rows(ids: list[int]) -> np.ndarray:
    return np.stack([token_vector(t, DIM) for t in ids])


def ids_of(tokenizer: TextTokenizer, text: str, **kwargs: object) -> list[int]:
    return tokenizer.encode([text], truncate=True, **kwargs)[0]  # type: ignore[arg-type]


def test_one_vector_per_token_special_tokens_included(
    client: TestClient, tokenizer: TextTokenizer
) -> None:
    reply = client.post("/embed_all", json={"inputs": ["hello", "hello big world"]})
    assert reply.status_code == 200, reply.text
    states = reply.json()
    assert [len(s) for s in states] == [3, 5]  # [CLS] ... [SEP]
    for rows, text in zip(states, ["hello", "hello big world"], strict=True):
        np.testing.assert_allclose(rows, token_rows(ids_of(tokenizer, text)), atol=1e-6)
    assert int(reply.headers["x-compute-tokens"]) == 8


def test_token_ids_prompt_and_truncation(client: TestClient, tokenizer: TextTokenizer) -> None:
    (rows,) = client.post("/embed_all", json={"inputs": [101, 7592, 102]}).json()
    np.testing.assert_allclose(rows, token_rows([101, 7592, 102]), atol=1e-6)
    (rows,) = client.post("/embed_all", json={"inputs": "hi", "prompt_name": "query"}).json()
    np.testing.assert_allclose(rows, token_rows(ids_of(tokenizer, "hi", prompt="query: ")))
    long_text = " ".join(f"w{i}" for i in range(600))
    (rows,) = client.post(
        "/embed_all", json={"inputs": long_text, "truncate": True, "truncation_direction": "Left"}
    ).json()
    assert len(rows) == MAX_SEQ_LEN
    np.testing.assert_allclose(rows, token_rows(ids_of(tokenizer, long_text, direction="left")))
    refused = client.post("/embed_all", json={"inputs": long_text, "truncate": False})
    assert refused.status_code == 422 and refused.json()["error"]["param"] == "inputs"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"inputs": []}, 400),
        ({"inputs": [""]}, 400),
        ({"inputs": "hi", "prompt_name": "nope"}, 422),
        ({"inputs": [True]}, 422),
        ({"inputs": [[1, 2], 30522]}, 422),
        ({"inputs": "hi", "truncation_direction": "up"}, 422),
    ],
)
def test_bad_requests(client: TestClient, body: dict[str, object], status: int) -> None:
    assert client.post("/embed_all", json=body).status_code == status


def test_msgpack_reply_is_float32_rows(client: TestClient, tokenizer: TextTokenizer) -> None:
    reply = client.post(
        "/embed_all", json={"inputs": "hello"}, headers={"Accept": "application/msgpack"}
    )
    assert reply.headers["content-type"].startswith("application/msgpack")
    (rows,) = msgpack.unpackb(reply.content)
    np.testing.assert_array_equal(
        np.asarray(rows, np.float32), token_rows(ids_of(tokenizer, "hello"))
    )


def test_pooled_and_per_token_requests_share_a_batch() -> None:
    """Both kinds queued before the engine runs form one batch; each gets its own kind."""
    engine = make_engine()
    batcher = Batcher(engine, max_batch_tokens=4096, max_batch_size=8, max_queued=64)

    async def both() -> tuple[list[np.ndarray], list[np.ndarray]]:
        pooled = batcher.submit([[101, 7592, 102], [101, 2088, 102]])
        tokens = batcher.submit([[101, 7592, 2088, 102]], per_token=True)
        batcher.start()
        done = await asyncio.gather(*pooled, *tokens)
        return [r.values for r in done[:2]], [r.values for r in done[2:]]

    try:
        pooled, tokens = asyncio.run(both())
    finally:
        batcher.close(5)
    assert engine.batch_sizes == [3]
    np.testing.assert_allclose(pooled[0], expected_vector([101, 7592, 102], normalize=False))
    np.testing.assert_allclose(pooled[1], expected_vector([101, 2088, 102], normalize=False))
    np.testing.assert_allclose(tokens[0], token_rows([101, 7592, 2088, 102]))


@dataclass
class PooledOnlyEngine:
    """An embedder engine without per-token states (what the onnx engine is); `claims`: one that
    says it has them but returns none (a broken engine)."""

    inner: FakeEngine
    claims: bool = False

    @property
    def info(self) -> EngineInfo:
        return replace(self.inner.info, name="onnx", token_embeddings=self.claims)

    def run(self, batch: Batch) -> Output:
        return replace(self.inner.run(batch), token_embeddings=None)


def test_an_engine_that_drops_token_states_fails_that_batch_only(make_app: AppFactory) -> None:
    with TestClient(make_app(PooledOnlyEngine(make_engine(), claims=True))) as client:
        reply = client.post("/embed_all", json={"inputs": "hello"})
        assert reply.status_code == 500 and "Traceback" not in reply.text
        assert client.post("/embed", json={"inputs": "hello"}).status_code == 200


def test_an_engine_without_token_states_answers_424_and_leaves_it_out_of_openapi(
    make_app: AppFactory,
) -> None:
    with TestClient(make_app(PooledOnlyEngine(make_engine()))) as client:
        reply = client.post("/embed_all", json={"inputs": "hello"})
        assert reply.status_code == 424
        assert "onnx engine" in reply.json()["error"]["message"]
        paths = client.get("/openapi.json").json()["paths"]
        assert "/embed_all" not in paths and "/embed" in paths
        assert client.post("/embed", json={"inputs": "hello"}).status_code == 200


def test_embedders_list_it_other_tasks_answer_424(client: TestClient, make_app: AppFactory) -> None:
    assert "/embed_all" in client.get("/openapi.json").json()["paths"]
    engine, profile = scoring_model("classify")
    with TestClient(make_app(engine, profile)) as classifier:
        reply = classifier.post("/embed_all", json={"inputs": "hello"})
        assert reply.status_code == 424 and "/predict" in reply.json()["error"]["message"]
        assert "/embed_all" not in classifier.get("/openapi.json").json()["paths"]


def test_fake_info_states_which_tasks_have_token_states() -> None:
    assert fake_info("embed").token_embeddings
    assert not fake_info("ner", max_seq_len=MAX_SEQ_LEN).token_embeddings
