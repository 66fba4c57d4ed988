"""The unmodified `openai` SDK (sync and async) against a real `bei serve` embedder: the
documented snippets, base64 (the SDK's default) and float vectors, `models.list()`, and the loud
422 for token ids from another tokenizer."""

from __future__ import annotations

import openai
import pytest

from tests.integration.fake_servers import (
    SERVED_NAME,
    FakeServers,
    assert_close,
    reference_vector,
    run_snippet,
)

pytestmark = pytest.mark.integration

TEXTS = ["hello world", "bei serves embeddings"]


def test_openai_sync_snippet(fake_servers: FakeServers) -> None:
    found = run_snippet("openai", fake_servers("embed").url)
    for vector, text in zip(found["vectors"], TEXTS, strict=True):  # type: ignore[call-overload]
        assert_close(vector, reference_vector(text))
    assert found["model_ids"] == [SERVED_NAME]


def test_openai_async_snippet_with_dimensions(fake_servers: FakeServers) -> None:
    found = run_snippet("openai-async", fake_servers("embed").url)
    (vector,) = found["vectors"]  # type: ignore[misc]
    assert_close(vector, reference_vector("hello world", dims=8))


def test_float_format_and_token_ids(fake_servers: FakeServers) -> None:
    client = openai.OpenAI(base_url=f"{fake_servers('embed').url}/v1", api_key="unused")
    ids = [101, 7592, 2088, 102]
    reply = client.embeddings.create(model="x", input=[ids], encoding_format="float")
    assert_close(reply.data[0].embedding, reference_vector(ids))


def test_foreign_token_ids_are_a_loud_422(fake_servers: FakeServers) -> None:
    """What langchain-openai's defaults send (cl100k ids): refused, naming the cause."""
    client = openai.OpenAI(base_url=f"{fake_servers('embed').url}/v1", api_key="unused")
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.embeddings.create(model="x", input=[[15339, 1917, 100257]])
    assert "check_embedding_ctx_length=False" in str(caught.value)


def test_strict_types_are_422(fake_servers: FakeServers) -> None:
    client = openai.OpenAI(base_url=f"{fake_servers('embed').url}/v1", api_key="unused")
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.embeddings.create(model="x", input="hi", extra_body={"dimensions": True})
    assert "dimensions" in str(caught.value)
