"""The unmodified LlamaIndex TEI embeddings integration against a real `bei serve` embedder."""

from __future__ import annotations

import pytest

from tests.integration.fake_servers import (
    FakeServers,
    assert_close,
    reference_vector,
    run_snippet,
)

pytestmark = pytest.mark.integration


def test_text_embeddings_inference(fake_servers: FakeServers) -> None:
    found = run_snippet("llama-index", fake_servers("embed").url)
    assert_close(found["query_vector"], reference_vector("hello world"))
    for vector, text in zip(  # type: ignore[call-overload]
        found["vectors"], ["hello world", "bei serves embeddings"], strict=True
    ):
        assert_close(vector, reference_vector(text))
