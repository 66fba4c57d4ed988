"""The routes added for third-party clients (Cohere v2, /similarity, /tokenize, /decode,
/v1/models, the Hugging Face task shapes), `POST /` dispatch by body shape, strict types, and the
OpenAPI document each task's server publishes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bei_cli.engine.postprocess import sigmoid, softmax
from bei_cli.server.capabilities import ROUTES
from bei_cli.server.tokenizer import TextTokenizer
from tests.unit.server.support import (
    DIM,
    SCORING_MODELS,
    AppFactory,
    expected_vector,
    fake_logits,
    scoring_model,
)

Serve = Callable[[str], TestClient]


@pytest.fixture
def serve(make_app: AppFactory) -> Iterator[Serve]:
    clients: list[TestClient] = []

    def start(task: str) -> TestClient:
        app = make_app() if task == "embed" else make_app(*scoring_model(task))
        clients.append(TestClient(app).__enter__())
        return clients[-1]

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def ids(tokenizer: TextTokenizer, text: str) -> list[int]:
    return tokenizer.encode([text], truncate=True)[0]


def test_similarity_is_the_cosine_of_normalized_vectors(
    serve: Serve, tokenizer: TextTokenizer
) -> None:
    body = {"inputs": {"source_sentence": "a cat", "sentences": ["a dog", "the sea"]}}
    for path in ("/similarity", "/"):
        scores = serve("embed").post(path, json=body).json()
        source = expected_vector(ids(tokenizer, "a cat"))
        want = [float(source @ expected_vector(ids(tokenizer, t))) for t in ("a dog", "the sea")]
        np.testing.assert_allclose(scores, want, atol=1e-6)


def test_root_dispatch_by_body_shape(serve: Serve, tokenizer: TextTokenizer) -> None:
    client = serve("embed")
    openai = client.post("/", json={"input": "hi"}).json()
    tei = client.post("/", json={"inputs": "hi"}).json()
    cohere = client.post("/", json={"texts": ["hi"]}).json()
    want = expected_vector(ids(tokenizer, "hi"))
    for vector in (openai["data"][0]["embedding"], tei[0], cohere["embeddings"]["float"][0]):
        np.testing.assert_allclose(vector, want, atol=1e-6)
    assert client.post("/", json={"nothing": 1}).json()["error"]["param"] == "input"


def test_cohere_v2_embed_and_rerank(serve: Serve, tokenizer: TextTokenizer) -> None:
    reply = serve("embed").post("/v2/embed", json={"texts": ["hi"], "output_dimension": 4})
    np.testing.assert_allclose(
        reply.json()["embeddings"]["float"][0], expected_vector(ids(tokenizer, "hi"), 4), atol=1e-6
    )
    ranked = serve("rerank").post(
        "/v2/rerank", json={"model": "m", "query": "q", "documents": ["a", "b", "c"], "top_n": 2}
    )
    results = ranked.json()["results"]
    pair_ids = [tokenizer.encode_pairs([("q", d)], truncate=True)[0][0] for d in "abc"]
    scores = [float(sigmoid(fake_logits(p, 1))[0]) for p in pair_ids]
    assert [r["index"] for r in results] == list(np.argsort(scores)[::-1][:2])
    assert set(ranked.json()) == {"id", "results", "meta"}


def test_hf_text_classification_nests_a_single_text(serve: Serve, tokenizer: TextTokenizer) -> None:
    labels = SCORING_MODELS["classify"][0]
    client = serve("classify")
    body = {"inputs": "good", "parameters": {"top_k": 2, "function_to_apply": "softmax"}}
    (answer,) = client.post("/", json=body).json()
    probs = softmax(fake_logits(ids(tokenizer, "good"), len(labels)))
    assert [a["label"] for a in answer] == [labels[i] for i in np.argsort(-probs)[:2]]
    many = client.post("/hf/text-classification", json={"inputs": ["a", "b"]}).json()
    assert len(many) == 2 and len(many[0]) == len(labels)
    # TEI's form stays flat for one text
    assert isinstance(client.post("/", json={"inputs": "good"}).json()[0], dict)


def test_hf_token_classification_fields(serve: Serve) -> None:
    client = serve("ner")
    text = "Wolfgang lives in Berlin with Angela"
    grouped = client.post("/", json={"inputs": text, "parameters": {}}).json()
    tokens = client.post(
        "/", json={"inputs": text, "parameters": {"aggregation_strategy": "none"}}
    ).json()
    assert tokens and all(set(t) == {"entity", "score", "word", "start", "end"} for t in tokens)
    assert all(set(e) == {"entity_group", "score", "word", "start", "end"} for e in grouped)
    kept = client.post(
        "/hf/token-classification",
        json={
            "inputs": [text],
            "parameters": {"aggregation_strategy": "none", "ignore_labels": []},
        },
    ).json()
    assert len(kept) == 1 and len(kept[0]) >= len(tokens)  # "O" tokens are kept too
    # BEI's own form is unchanged
    assert "results" in client.post("/", json={"inputs": [text]}).json()[0][0]


def test_tokenize_and_decode(serve: Serve, tokenizer: TextTokenizer) -> None:
    client = serve("classify")
    (tokens,) = client.post("/tokenize", json={"inputs": "Hello world"}).json()
    assert [t["id"] for t in tokens] == ids(tokenizer, "Hello world")
    assert tokens[0] == {"id": 101, "text": "[CLS]", "special": True, "start": None, "stop": None}
    assert tokens[1] == {"id": 7592, "text": "Hello", "special": False, "start": 0, "stop": 5}
    plain = client.post("/tokenize", json={"inputs": ["x"], "add_special_tokens": False}).json()
    assert all(not t["special"] for t in plain[0])
    decoded = client.post("/decode", json={"ids": [[101, 7592, 2088, 102]]}).json()
    assert decoded == ["hello world"]
    assert client.post("/decode", json={"ids": [99999]}).status_code == 422


def test_models_list(serve: Serve) -> None:
    for path in ("/v1/models", "/models"):
        listed = serve("embed").get(path).json()
        assert listed["object"] == "list" and listed["data"][0]["id"] == "bei"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/embeddings", {"input": "hi", "dimensions": True}, "dimensions"),
        ("/v1/embeddings", {"input": "hi", "dimensions": 1.5}, "dimensions"),
        ("/v1/embeddings", {"input": [True, False]}, "input"),
        ("/embed", {"inputs": "hi", "normalize": "true"}, "normalize"),
        ("/embed", {"inputs": "hi", "dimensions": "4"}, "dimensions"),
    ],
)
def test_no_coercion(serve: Serve, path: str, body: dict[str, Any], param: str) -> None:
    reply = serve("embed").post(path, json=body)
    assert reply.status_code == 422 and reply.json()["error"]["param"] == param


def test_whole_number_floats_are_integers(serve: Serve) -> None:
    """JSON Schema's integer: 4.0 is 4 (what schema-driven clients and fuzzers send)."""
    reply = serve("embed").post("/v1/embeddings", json={"input": [101.0, 102], "dimensions": 4.0})
    assert reply.status_code == 200 and len(reply.json()["data"][0]["embedding"]) == 4


def test_bool_top_n_is_refused(serve: Serve) -> None:
    body = {"query": "q", "documents": ["a"], "top_n": True}
    assert serve("rerank").post("/v1/rerank", json=body).status_code == 422


@pytest.mark.parametrize("task", ["embed", "rerank", "classify", "ner"])
def test_openapi_lists_only_the_models_routes(serve: Serve, task: str) -> None:
    paths = set(serve(task).get("/openapi.json").json()["paths"])
    others = {route for routes in ROUTES.values() for route in routes} - set(ROUTES[task])  # type: ignore[arg-type]
    assert set(ROUTES[task]) <= paths  # type: ignore[index]
    assert not paths & others
    assert {"/health", "/tokenize", "/decode", "/v1/models"} <= paths


def test_openapi_states_the_models_limits(serve: Serve, tokenizer: TextTokenizer) -> None:
    document = serve("embed").get("/openapi.json").json()
    text = str(document)
    assert "x-bei-limit" not in text
    schemas = document["components"]["schemas"]
    dims = schemas["EmbeddingRequest"]["properties"]["dimensions"]["anyOf"][0]
    assert dims == {"type": "integer", "minimum": 1, "maximum": DIM}
    token = schemas["DecodeRequest"]["properties"]["ids"]["anyOf"][0]["items"]
    assert token["maximum"] == tokenizer.vocab_size - 1 and token["minimum"] == 0
    batch = schemas["EmbeddingRequest"]["properties"]["input"]["anyOf"][2]
    assert batch["maxItems"] == 1024 and batch["minItems"] == 1
    prompt = schemas["EmbedRequest"]["properties"]["prompt_name"]["anyOf"][0]
    assert prompt["enum"] == ["passage", "query"]
