"""POST /v1/embeddings (and /embeddings, POST /, Truss predict) against FakeEngine + MiniLM."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bei_cli.server.tokenizer import TextTokenizer
from tests.unit.server.support import DIM, MAX_SEQ_LEN, AppFactory, expected_vector, make_profile

TEXTS = ["hello world", "Ünïcödé café", "a much longer sentence about embeddings"]
TIMING_HEADERS = (
    "x-compute-time",
    "x-compute-tokens",
    "x-compute-characters",
    "x-total-time",
    "x-tokenization-time",
    "x-queue-time",
    "x-inference-time",
)


def ids_of(tokenizer: TextTokenizer, text: str) -> list[int]:
    return tokenizer.encode([text], truncate=True)[0]


def test_reply_has_every_field_and_each_input_its_own_vector(
    client: TestClient, tokenizer: TextTokenizer
) -> None:
    reply = client.post("/v1/embeddings", json={"input": TEXTS, "model": "whatever"})
    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == {"object", "data", "model", "usage"}
    assert body["object"] == "list"
    assert body["model"] == "bei"  # the served name, not the request's
    tokens = sum(len(ids_of(tokenizer, t)) for t in TEXTS)
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    for i, (item, text) in enumerate(zip(body["data"], TEXTS, strict=True)):
        assert item["object"] == "embedding" and item["index"] == i
        vector = np.array(item["embedding"])
        np.testing.assert_allclose(vector, expected_vector(ids_of(tokenizer, text)), atol=1e-6)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_a_single_string_gives_one_vector(client: TestClient) -> None:
    body = client.post("/v1/embeddings", json={"input": "hello"}).json()
    assert len(body["data"]) == 1 and len(body["data"][0]["embedding"]) == DIM


def test_timing_headers_are_set(client: TestClient) -> None:
    reply = client.post("/v1/embeddings", json={"input": TEXTS})
    for name in TIMING_HEADERS:
        assert int(reply.headers[name]) >= 0, name
    assert int(reply.headers["x-compute-characters"]) == sum(len(t) for t in TEXTS)
    assert int(reply.headers["x-compute-tokens"]) == reply.json()["usage"]["prompt_tokens"]


def test_base64_decodes_to_the_float_vector(client: TestClient) -> None:
    floats = client.post("/v1/embeddings", json={"input": TEXTS}).json()
    packed = client.post("/v1/embeddings", json={"input": TEXTS, "encoding_format": "base64"})
    for as_float, as_b64 in zip(floats["data"], packed.json()["data"], strict=True):
        decoded = np.frombuffer(base64.b64decode(as_b64["embedding"]), dtype="<f4")
        np.testing.assert_allclose(decoded, as_float["embedding"], rtol=1e-6)


@pytest.mark.parametrize("dims", [1, 4, DIM])
def test_dimensions_truncate_then_renormalize(
    client: TestClient, tokenizer: TextTokenizer, dims: int
) -> None:
    body = client.post("/v1/embeddings", json={"input": "hello", "dimensions": dims}).json()
    vector = np.array(body["data"][0]["embedding"])
    assert vector.shape == (dims,)
    np.testing.assert_allclose(vector, expected_vector(ids_of(tokenizer, "hello"), dims), atol=1e-6)


def test_token_id_inputs_are_embedded_as_given(client: TestClient) -> None:
    one = client.post("/v1/embeddings", json={"input": [101, 7592, 102]}).json()
    many = client.post("/v1/embeddings", json={"input": [[101, 7592, 102], [5, 6]]}).json()
    np.testing.assert_allclose(
        one["data"][0]["embedding"], expected_vector([101, 7592, 102]), atol=1e-6
    )
    np.testing.assert_allclose(many["data"][1]["embedding"], expected_vector([5, 6]), atol=1e-6)
    assert many["usage"]["prompt_tokens"] == 5


def test_mixed_texts_and_token_ids_keep_their_order(
    client: TestClient, tokenizer: TextTokenizer
) -> None:
    body = client.post("/v1/embeddings", json={"input": ["hello", [5, 6], "world"]}).json()
    expected = [ids_of(tokenizer, "hello"), [5, 6], ids_of(tokenizer, "world")]
    for item, ids in zip(body["data"], expected, strict=True):
        np.testing.assert_allclose(item["embedding"], expected_vector(ids), atol=1e-6)


@pytest.mark.parametrize("path", ["/embeddings", "/", "/v1/models/model:predict"])
def test_aliases_and_default_route_answer_like_v1_embeddings(client: TestClient, path: str) -> None:
    reference = client.post("/v1/embeddings", json={"input": TEXTS}).json()
    assert client.post(path, json={"input": TEXTS}).json() == reference


def test_default_route_can_point_at_tei_embed(make_app: AppFactory) -> None:
    with TestClient(make_app(default_route="/embed")) as client:
        reply = client.post("/", json={"inputs": ["a", "b"]})
    assert reply.status_code == 200
    assert len(reply.json()) == 2 and len(reply.json()[0]) == DIM


def test_auto_truncate_decides_long_inputs(make_app: AppFactory) -> None:
    long_text = "word " * 1000
    with TestClient(make_app(auto_truncate=True)) as client:
        body = client.post("/v1/embeddings", json={"input": long_text}).json()
        assert body["usage"]["prompt_tokens"] == MAX_SEQ_LEN
    with TestClient(make_app(auto_truncate=False)) as client:
        reply = client.post("/v1/embeddings", json={"input": long_text})
        assert reply.status_code == 422
        assert "must have less than 256 tokens" in reply.json()["error"]["message"]
        assert "truncate=true" in reply.json()["error"]["message"]


def test_the_default_prompt_applies(make_app: AppFactory, tokenizer: TextTokenizer) -> None:
    profile = make_profile(default_prompt_name="query")
    with TestClient(make_app(profile=profile)) as client:
        body = client.post("/v1/embeddings", json={"input": "hello"}).json()
    expected = expected_vector(ids_of(tokenizer, "query: hello"))
    np.testing.assert_allclose(body["data"][0]["embedding"], expected, atol=1e-6)
    assert body["usage"]["prompt_tokens"] == len(ids_of(tokenizer, "query: hello"))


def test_the_openai_sdk_works_unmodified(client: TestClient) -> None:
    from openai import OpenAI

    sdk = OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)
    # The SDK asks for base64 by default and decodes it itself.
    default = sdk.embeddings.create(input=TEXTS, model="m")
    floats = client.post("/v1/embeddings", json={"input": TEXTS}).json()
    assert [d.index for d in default.data] == [0, 1, 2]
    for ours, reference in zip(default.data, floats["data"], strict=True):
        np.testing.assert_allclose(ours.embedding, reference["embedding"], rtol=1e-6)
    small = sdk.embeddings.create(input="hello", model="m", dimensions=8, encoding_format="float")
    assert len(small.data[0].embedding) == 8
    assert default.usage.total_tokens == floats["usage"]["total_tokens"]
