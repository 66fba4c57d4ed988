"""POST /embed: TEI's fields and its bare-list reply."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bei_cli.server.tokenizer import TextTokenizer
from tests.unit.server.support import DIM, MAX_SEQ_LEN, AppFactory, expected_vector, make_profile


@pytest.fixture(params=["in-process", "engine-process"])
def client_kind(request: pytest.FixtureRequest) -> str:
    """Every test here runs on both EngineClients."""
    return str(request.param)


def ids_of(tokenizer: TextTokenizer, text: str, **kwargs: object) -> list[int]:
    return tokenizer.encode([text], truncate=True, **kwargs)[0]  # type: ignore[arg-type]


def test_reply_is_a_bare_list_of_normalized_vectors(
    client: TestClient, tokenizer: TextTokenizer
) -> None:
    reply = client.post("/embed", json={"inputs": ["hello", "world"]})
    assert reply.status_code == 200
    vectors = reply.json()
    assert isinstance(vectors, list) and len(vectors) == 2
    for vector, text in zip(vectors, ["hello", "world"], strict=True):
        np.testing.assert_allclose(vector, expected_vector(ids_of(tokenizer, text)), atol=1e-6)
    assert int(reply.headers["x-compute-tokens"]) == 6


def test_a_single_string_still_gives_a_list_of_vectors(client: TestClient) -> None:
    vectors = client.post("/embed", json={"inputs": "hello"}).json()
    assert len(vectors) == 1 and len(vectors[0]) == DIM


def test_normalize_false_returns_the_raw_vector(
    client: TestClient, tokenizer: TextTokenizer
) -> None:
    (vector,) = client.post("/embed", json={"inputs": "hello", "normalize": False}).json()
    raw = expected_vector(ids_of(tokenizer, "hello"), normalize=False)
    np.testing.assert_allclose(vector, raw, rtol=1e-5)
    assert np.linalg.norm(vector) != pytest.approx(1.0)


def test_dimensions_cut_before_normalizing(client: TestClient, tokenizer: TextTokenizer) -> None:
    (vector,) = client.post("/embed", json={"inputs": "hello", "dimensions": 5}).json()
    np.testing.assert_allclose(vector, expected_vector(ids_of(tokenizer, "hello"), 5), atol=1e-6)
    (raw,) = client.post(
        "/embed", json={"inputs": "hello", "dimensions": 5, "normalize": False}
    ).json()
    full = expected_vector(ids_of(tokenizer, "hello"), normalize=False)
    np.testing.assert_allclose(raw, full[:5], rtol=1e-5)


@pytest.mark.parametrize("direction", ["Left", "left", "Right", "right"])
def test_truncation_direction_is_honoured(
    client: TestClient, tokenizer: TextTokenizer, direction: str
) -> None:
    text = " ".join(f"w{i}" for i in range(600))
    body = {"inputs": text, "truncate": True, "truncation_direction": direction}
    (vector,) = client.post("/embed", json=body).json()
    ids = ids_of(tokenizer, text, direction=direction.lower())
    assert len(ids) == MAX_SEQ_LEN
    np.testing.assert_allclose(vector, expected_vector(ids), atol=1e-6)


def test_truncate_null_follows_the_server_setting(make_app: AppFactory) -> None:
    text = "word " * 600
    with TestClient(make_app(auto_truncate=False)) as client:
        assert client.post("/embed", json={"inputs": text}).status_code == 422
        assert client.post("/embed", json={"inputs": text, "truncate": True}).status_code == 200
    with TestClient(make_app(auto_truncate=True)) as client:
        assert client.post("/embed", json={"inputs": text}).status_code == 200
        assert client.post("/embed", json={"inputs": text, "truncate": False}).status_code == 422


def test_prompt_name_prepends_the_models_prompt(
    client: TestClient, tokenizer: TextTokenizer
) -> None:
    (vector,) = client.post("/embed", json={"inputs": "hi", "prompt_name": "passage"}).json()
    np.testing.assert_allclose(vector, expected_vector(ids_of(tokenizer, "passage: hi")), atol=1e-6)


def test_unknown_prompt_name_lists_the_available_ones(client: TestClient) -> None:
    reply = client.post("/embed", json={"inputs": "hi", "prompt_name": "nope"})
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["param"] == "prompt_name"
    assert "passage, query" in error["message"]


def test_default_prompt_name_applies_when_absent(
    make_app: AppFactory, tokenizer: TextTokenizer
) -> None:
    with TestClient(make_app(profile=make_profile(default_prompt_name="query"))) as client:
        (default,) = client.post("/embed", json={"inputs": "hi"}).json()
        (explicit,) = client.post("/embed", json={"inputs": "hi", "prompt_name": "passage"}).json()
    np.testing.assert_allclose(default, expected_vector(ids_of(tokenizer, "query: hi")), atol=1e-6)
    np.testing.assert_allclose(
        explicit, expected_vector(ids_of(tokenizer, "passage: hi")), atol=1e-6
    )


def test_token_ids_are_accepted(client: TestClient) -> None:
    vectors = client.post("/embed", json={"inputs": [[101, 5, 102], [7, 8]]}).json()
    np.testing.assert_allclose(vectors[1], expected_vector([7, 8]), atol=1e-6)


def test_unknown_fields_are_ignored(client: TestClient) -> None:
    assert client.post("/embed", json={"inputs": "hi", "model": "x", "extra": 1}).status_code == 200
