"""A causal embedder (Qwen3-style: left padding, EOS appended, last-token pooling, instruction
prompts) built by `bei build` and served by `bei serve`, embedded through the unmodified `openai`
client and TEI's /embed with `prompt_name`, checked against sentence-transformers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.fixtures.causal import make_tiny_causal_embedder
from tests.integration.conftest import ServerProcess, build_from_yaml, local_config
from tests.unit.engine.helpers import cosines

pytestmark = pytest.mark.integration

TEXTS = [
    "a",
    "What is the capital of France?",
    "Left padding matters when texts have different lengths, like this much longer one here.",
    "日本語のテキスト",
    "def f(x):\n    return x * 2",
]


@pytest.fixture(scope="module")
def causal(tmp_path_factory, hub_env) -> Iterator[tuple[ServerProcess, Path]]:  # type: ignore[no-untyped-def]
    work = tmp_path_factory.mktemp("causal")
    model_dir = make_tiny_causal_embedder(work / "qwen3", "qwen3")
    config = local_config(model_dir, base_model="encoder", route="/v1/embeddings")
    server = ServerProcess(build_from_yaml(work, hub_env, config), hub_env)
    yield server, model_dir
    server.stop()


def test_openai_client_embeds_with_a_causal_model(causal) -> None:  # type: ignore[no-untyped-def]
    import openai
    from sentence_transformers import SentenceTransformer

    server, model_dir = causal
    expected = SentenceTransformer(str(model_dir), device="cpu").encode(TEXTS)
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    response = client.embeddings.create(input=TEXTS, model="tiny")
    got = np.asarray([d.embedding for d in response.data], dtype=np.float32)
    assert cosines(got, expected).min() >= 0.99999


def test_prompt_name_applies_the_instruction(causal) -> None:  # type: ignore[no-untyped-def]
    from sentence_transformers import SentenceTransformer

    server, model_dir = causal
    model = SentenceTransformer(str(model_dir), device="cpu")
    expected = model.encode(TEXTS, prompt_name="query")
    body = {"inputs": TEXTS, "prompt_name": "query"}
    got = np.asarray(httpx.post(f"{server.url}/embed", json=body, timeout=60).json())
    assert cosines(got, expected).min() >= 0.99999
    plain = np.asarray(httpx.post(f"{server.url}/embed", json={"inputs": TEXTS}).json())
    assert cosines(plain, expected).min() < 0.9999  # the prompt changed the vectors
