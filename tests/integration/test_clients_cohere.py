"""The unmodified `cohere` SDK (ClientV2 and Client) against a real `bei serve` reranker and
embedder: /v2/rerank, /v1/rerank and /v2/embed."""

from __future__ import annotations

import numpy as np
import pytest

from bei_cli.engine.postprocess import sigmoid
from tests.integration.fake_servers import (
    FakeServers,
    assert_close,
    reference_logits,
    reference_vector,
    run_snippet,
)

pytestmark = pytest.mark.integration

QUERY = "capital of Germany?"
DOCS = ["Berlin is the capital.", "Bananas are yellow."]


def expected_ranking() -> list[tuple[int, float]]:
    scores = [float(sigmoid(reference_logits(QUERY, doc, labels=1))[0]) for doc in DOCS]
    return sorted(enumerate(scores), key=lambda pair: -pair[1])


@pytest.mark.parametrize("snippet", ["cohere-v2-rerank", "cohere-v1-rerank"])
def test_rerank(fake_servers: FakeServers, snippet: str) -> None:
    results = run_snippet(snippet, fake_servers("rerank").url)["results"]
    want = expected_ranking()
    assert [i for i, _ in results] == [i for i, _ in want]  # type: ignore[attr-defined]
    assert_close([s for _, s in results], np.asarray([s for _, s in want]))  # type: ignore[attr-defined]


def test_v2_embed(fake_servers: FakeServers) -> None:
    (vector,) = run_snippet("cohere-v2-embed", fake_servers("embed").url)["vectors"]  # type: ignore[misc]
    assert_close(vector, reference_vector("hello world"))
