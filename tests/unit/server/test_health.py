"""GET /health, /info, /metrics, /openapi.json, /docs."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bei_cli import __version__
from bei_cli.engine.fake import FakeEngine
from tests.unit.server.support import DIM, MAX_SEQ_LEN, AppFactory, make_engine

TEI_INFO_FIELDS = {
    "model_id",
    "model_sha",
    "model_dtype",
    "served_model_name",
    "model_type",
    "max_concurrent_requests",
    "max_input_length",
    "max_batch_tokens",
    "max_batch_requests",
    "max_client_batch_size",
    "auto_truncate",
    "tokenization_workers",
    "version",
    "sha",
    "docker_label",
}


def test_health_follows_the_lifespan(make_app: AppFactory) -> None:
    app = make_app()
    client = TestClient(app)
    reply = client.get("/health")  # lifespan not started: engine thread not running
    assert reply.status_code == 503
    assert reply.json()["error"]["type"] == "service_unavailable"
    with client:
        reply = client.get("/health")
        assert reply.status_code == 200 and reply.json() == {"status": "ok"}
    assert client.get("/health").status_code == 503  # after shutdown


def test_info_has_teis_fields(make_app: AppFactory) -> None:
    engine = FakeEngine(replace(make_engine().info, max_batch_tokens=2048, max_batch_size=32))
    with TestClient(make_app(engine=engine, served_model_name="minilm")) as client:
        info = client.get("/info").json()
    assert set(info) >= TEI_INFO_FIELDS
    assert info["model_id"] == info["served_model_name"] == "minilm"
    assert info["model_type"] == {"embedding": {"pooling": "mean"}}
    assert info["model_dtype"] == "float32"
    assert info["max_input_length"] == MAX_SEQ_LEN
    assert info["max_batch_tokens"] == 2048 and info["max_batch_requests"] == 32
    assert info["max_client_batch_size"] == 1024 and info["auto_truncate"] is True
    assert info["version"] == __version__
    assert info["embedding_dim"] == DIM and info["prompts"] == ["passage", "query"]


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_parse_and_count(make_app: AppFactory) -> None:
    with TestClient(make_app()) as client:
        client.post("/v1/embeddings", json={"input": ["a", "b", "c"]})
        client.post("/v1/embeddings", json={"input": ""})
        client.get("/nope")
        reply = client.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    samples = metric_samples(reply.text)
    ok = ("bei_requests_total", (("route", "/v1/embeddings"), ("status", "200")))
    bad = ("bei_requests_total", (("route", "/v1/embeddings"), ("status", "400")))
    missing = ("bei_requests_total", (("route", "unmatched"), ("status", "404")))
    assert samples[ok] == 1 and samples[bad] == 1 and samples[missing] == 1
    assert samples[("bei_inputs_total", ())] == 3
    assert samples[("bei_tokens_total", ())] == 9  # [CLS] x [SEP] each
    assert samples[("bei_batch_size_count", ())] >= 1
    assert samples[("bei_batch_size_sum", ())] == 3
    assert ("bei_queue_size", ()) in samples
    latency = ("bei_request_duration_seconds_count", (("route", "/v1/embeddings"),))
    assert samples[latency] == 2


def test_each_app_has_its_own_registry(make_app: AppFactory) -> None:
    with TestClient(make_app()) as first, TestClient(make_app()) as second:
        first.post("/v1/embeddings", json={"input": "a"})
        samples = metric_samples(second.get("/metrics").text)
    assert ("bei_inputs_total", ()) in samples and samples[("bei_inputs_total", ())] == 0


def test_openapi_and_docs(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/v1/embeddings", "/embed", "/health", "/info", "/metrics"} <= set(schema["paths"])
    request = schema["paths"]["/v1/embeddings"]["post"]["requestBody"]
    assert "EmbeddingRequest" in str(request)
    assert "422" in schema["paths"]["/embed"]["post"]["responses"]
    assert "swagger" in client.get("/docs").text.lower()
