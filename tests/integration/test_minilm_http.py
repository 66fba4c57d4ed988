"""The acceptance of the core path: real MiniLM built by `bei build`, served by `bei serve`,
checked against sentence-transformers through raw HTTP, the unmodified `openai` client and the
unmodified `baseten-performance-client`."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from tests.integration.conftest import ServerProcess
from tests.integration.texts import varied_texts
from tests.unit.engine.helpers import cosines

pytestmark = pytest.mark.integration

FP32_COSINE = 0.99999
BF16_COSINE = 0.999


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return varied_texts(240)


@pytest.fixture(scope="module")
def reference(reference_model, texts: list[str]) -> np.ndarray:  # type: ignore[no-untyped-def]
    return reference_model.encode(texts, batch_size=32, normalize_embeddings=True)


def embed_http(url: str, texts: list[str], chunk: int = 40) -> np.ndarray:
    rows: list[list[float]] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for start in range(0, len(texts), chunk):
            response = client.post("/v1/embeddings", json={"input": texts[start : start + chunk]})
            assert response.status_code == 200, response.text
            body = response.json()
            assert [d["index"] for d in body["data"]] == list(range(len(body["data"])))
            rows.extend(d["embedding"] for d in body["data"])
    return np.asarray(rows, dtype=np.float32)


def test_fp32_parity_over_http(minilm_server: ServerProcess, texts, reference) -> None:  # type: ignore[no-untyped-def]
    assert len(texts) >= 200
    got = embed_http(minilm_server.url, texts)
    assert got.shape == reference.shape
    cos = cosines(got, reference)
    assert cos.min() >= FP32_COSINE, f"worst cosine {cos.min():.7f} at {texts[int(cos.argmin())]!r}"
    # /v1/embeddings returns unit vectors, like sentence-transformers with its Normalize module.
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_bf16_parity_over_http(minilm_bf16_server: ServerProcess, texts, reference) -> None:  # type: ignore[no-untyped-def]
    got = embed_http(minilm_bf16_server.url, texts)
    cos = cosines(got, reference)
    assert cos.min() >= BF16_COSINE, f"worst bf16 cosine {cos.min():.5f}"
    info = httpx.get(f"{minilm_bf16_server.url}/info").json()
    assert "bfloat16" in str(info).lower()


def test_tei_embed_route(minilm_server: ServerProcess, texts, reference) -> None:  # type: ignore[no-untyped-def]
    response = httpx.post(f"{minilm_server.url}/embed", json={"inputs": texts[:8]}, timeout=60)
    assert response.status_code == 200, response.text
    got = np.asarray(response.json(), dtype=np.float32)
    assert cosines(got, reference[:8]).min() >= FP32_COSINE
    single = httpx.post(f"{minilm_server.url}/embed", json={"inputs": texts[0]}).json()
    assert len(single) == 1 and len(single[0]) == 384


def test_tei_embed_all_matches_token_embeddings(
    minilm_server: ServerProcess, reference_model, texts
) -> None:  # type: ignore[no-untyped-def]
    """/embed_all vs sentence-transformers `output_value="token_embeddings"`: same token count
    (special tokens in, padding out), |diff| <= 2e-5 (fp32 both sides)."""
    sample = [*texts[:23], "word " * 400]  # the last one truncated to 256 tokens, as ST does
    reply = httpx.post(f"{minilm_server.url}/embed_all", json={"inputs": sample}, timeout=120)
    assert reply.status_code == 200, reply.text
    want = reference_model.encode(sample, output_value="token_embeddings", batch_size=8)
    got = reply.json()
    assert len(got) == len(sample) and len(got[-1]) == 256
    for rows, ref in zip(got, want, strict=True):
        rows, ref = np.asarray(rows, dtype=np.float32), ref.numpy()
        assert rows.shape == ref.shape
        np.testing.assert_allclose(rows, ref, atol=2e-5, rtol=0)
        assert cosines(rows, ref).min() >= FP32_COSINE
    assert int(reply.headers["x-compute-tokens"]) == sum(len(rows) for rows in got)


def test_openai_client_float_and_default_base64(
    minilm_server: ServerProcess, texts, reference
) -> None:  # type: ignore[no-untyped-def]
    import openai

    client = openai.OpenAI(base_url=f"{minilm_server.url}/v1", api_key="unused", max_retries=0)
    batch = texts[:32]
    as_float = client.embeddings.create(input=batch, model="any", encoding_format="float")
    default = client.embeddings.create(input=batch, model="any")  # the SDK asks for base64
    for response in (as_float, default):
        got = np.asarray([d.embedding for d in response.data], dtype=np.float32)
        assert cosines(got, reference[:32]).min() >= FP32_COSINE
        assert response.usage.prompt_tokens > 0
    single = client.embeddings.create(input=texts[1], model="any")
    assert cosines(np.asarray([single.data[0].embedding]), reference[1:2]).min() >= FP32_COSINE


def test_base64_is_little_endian_float32(minilm_server: ServerProcess, texts) -> None:  # type: ignore[no-untyped-def]
    body = {"input": texts[:3], "encoding_format": "base64"}
    encoded = httpx.post(f"{minilm_server.url}/v1/embeddings", json=body).json()
    floats = httpx.post(f"{minilm_server.url}/v1/embeddings", json={"input": texts[:3]}).json()
    for b64_item, float_item in zip(encoded["data"], floats["data"], strict=True):
        decoded = np.frombuffer(base64.b64decode(b64_item["embedding"]), dtype="<f4")
        np.testing.assert_allclose(decoded, np.asarray(float_item["embedding"]), atol=1e-6)


def test_dimensions_truncates_and_renormalizes(
    minilm_server: ServerProcess, texts, reference
) -> None:  # type: ignore[no-untyped-def]
    body = {"input": texts[:4], "dimensions": 64}
    data = httpx.post(f"{minilm_server.url}/v1/embeddings", json=body).json()["data"]
    got = np.asarray([d["embedding"] for d in data], dtype=np.float32)
    assert got.shape == (4, 64)
    expected = reference[:4, :64] / np.linalg.norm(reference[:4, :64], axis=1, keepdims=True)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_performance_client_embed(minilm_server: ServerProcess, texts, reference) -> None:  # type: ignore[no-untyped-def]
    from baseten_performance_client import PerformanceClient

    client = PerformanceClient(base_url=minilm_server.url, api_key="unused")
    # Default client-side batching (8 per request) and concurrency.
    response = client.embed(input=texts, model="any")
    got = np.asarray([d.embedding for d in response.data], dtype=np.float32)
    assert got.shape == reference.shape
    assert cosines(got, reference).min() >= FP32_COSINE
    assert response.usage.total_tokens > 0


def test_64_concurrent_clients_get_their_own_vectors(
    minilm_server: ServerProcess, texts, reference
) -> None:  # type: ignore[no-untyped-def]
    def client_job(worker: int) -> list[tuple[int, list[float]]]:
        results = []
        with httpx.Client(base_url=minilm_server.url, timeout=120) as client:
            for k in range(3):
                index = (worker * 3 + k) % len(texts)
                response = client.post("/v1/embeddings", json={"input": texts[index]})
                assert response.status_code == 200, response.text
                results.append((index, response.json()["data"][0]["embedding"]))
        return results

    with ThreadPoolExecutor(max_workers=64) as pool:
        answers = [item for batch in pool.map(client_job, range(64)) for item in batch]
    assert len(answers) == 192
    indices = [i for i, _ in answers]
    got = np.asarray([v for _, v in answers], dtype=np.float32)
    cos = cosines(got, reference[indices])
    assert cos.min() >= FP32_COSINE, "a response did not match its own input"


BAD_REQUESTS = [
    ("number input", {"input": 5}, {422}),
    ("non-string item", {"input": ["ok", 3]}, {422}),
    ("nested garbage", {"input": [{"text": "a"}]}, {422}),
    ("empty list", {"input": []}, {400}),
    ("empty string", {"input": ""}, {400}),
    ("empty string in list", {"input": ["a", ""]}, {400}),
    ("missing input", {"model": "x"}, {422}),
    ("too many inputs", {"input": ["a"] * 1025}, {413}),
    ("bad encoding_format", {"input": "a", "encoding_format": "int8"}, {422}),
    ("zero dimensions", {"input": "a", "dimensions": 0}, {422}),
    ("negative dimensions", {"input": "a", "dimensions": -3}, {422}),
    ("too many dimensions", {"input": "a", "dimensions": 1000}, {422}),
    ("token id out of vocab", {"input": [[101, 99999999, 102]]}, {422}),
]


@pytest.mark.parametrize(
    ("name", "body", "statuses"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS]
)
def test_bad_requests_get_error_json(minilm_server: ServerProcess, name, body, statuses) -> None:  # type: ignore[no-untyped-def]
    response = httpx.post(f"{minilm_server.url}/v1/embeddings", json=body, timeout=60)
    assert response.status_code in statuses, (name, response.status_code, response.text)
    error = response.json()["error"]
    assert error["message"] and error["type"]
    ok = httpx.post(f"{minilm_server.url}/v1/embeddings", json={"input": "still serving"})
    assert ok.status_code == 200


def test_malformed_json_and_wrong_content_type(minilm_server: ServerProcess) -> None:
    url = f"{minilm_server.url}/v1/embeddings"
    broken = httpx.post(url, content=b'{"input": "a"', headers={"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"]["message"]
    wrong_type = httpx.post(url, content=b"input=a", headers={"content-type": "text/plain"})
    assert wrong_type.status_code in (400, 415) and wrong_type.json()["error"]["message"]
    assert httpx.post(url, json={"input": "a"}).status_code == 200


def test_over_long_input_rejected_without_truncation(minilm_server: ServerProcess) -> None:
    long_text = "word " * 2000
    rejected = httpx.post(
        f"{minilm_server.url}/embed", json={"inputs": long_text, "truncate": False}, timeout=60
    )
    assert rejected.status_code == 422, rejected.text
    assert "token" in rejected.json()["error"]["message"].lower()
    accepted = httpx.post(
        f"{minilm_server.url}/embed", json={"inputs": long_text, "truncate": True}, timeout=60
    )
    assert accepted.status_code == 200


def test_health_info_metrics_openapi(minilm_server: ServerProcess) -> None:
    url = minilm_server.url
    assert httpx.get(f"{url}/health").status_code == 200
    info = httpx.get(f"{url}/info").json()
    assert info["max_client_batch_size"] >= 1024
    metrics = httpx.get(f"{url}/metrics")
    assert metrics.status_code == 200 and "# TYPE" in metrics.text
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    assert {"/v1/embeddings", "/embeddings", "/embed"} <= set(paths)
