"""Transport and protocol details: MessagePack, gzip/zstd, x-request-id, CORS, tracing, trailing
slashes, 405 with Allow, /health's JSON, and bodies Python's json would let through (lone
surrogates, invalid UTF-8) answered 400."""

from __future__ import annotations

import msgpack
import numpy as np
import orjson
import pytest
import zstandard
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bei_cli.server.app import create_app
from bei_cli.server.settings import ServerSettings
from bei_cli.server.tokenizer import TextTokenizer
from bei_cli.server.transport import encoding_for, prefers_msgpack
from tests.unit.server.support import AppFactory, make_engine, make_profile

MANY = {"input": [f"text number {i}" for i in range(40)]}


@pytest.mark.parametrize(
    ("accept", "packed"),
    [
        ("application/json, application/msgpack", True),  # the performance client
        ("application/msgpack", True),
        ("application/json", False),
        ("*/*", False),
        ("", False),
        ("application/json, application/msgpack;q=0.5", False),
        ("application/msgpack;q=0", False),
    ],
)
def test_msgpack_preference(accept: str, packed: bool) -> None:
    assert prefers_msgpack(accept) is packed


def test_msgpack_reply_holds_the_same_values(client: TestClient) -> None:
    as_json = client.post("/v1/embeddings", json={"input": ["a", "b"]}).json()
    reply = client.post(
        "/v1/embeddings", json={"input": ["a", "b"]}, headers={"accept": "application/msgpack"}
    )
    assert reply.headers["content-type"] == "application/msgpack"
    packed = msgpack.unpackb(reply.content)
    assert packed["usage"] == as_json["usage"]
    for got, want in zip(packed["data"], as_json["data"], strict=True):
        np.testing.assert_array_equal(np.float32(got["embedding"]), np.float32(want["embedding"]))


def test_errors_stay_json_under_msgpack(client: TestClient) -> None:
    reply = client.post(
        "/v1/embeddings", json={"input": []}, headers={"accept": "application/msgpack"}
    )
    assert reply.status_code == 400 and reply.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("accept_encoding", "chosen"),
    [
        ("gzip", "gzip"),
        ("zstd", "zstd"),
        ("gzip, zstd", "zstd"),
        ("zstd;q=0.1, gzip", "gzip"),
        ("identity", None),
        ("", None),
        ("*", "zstd"),
    ],
)
def test_encoding_choice(accept_encoding: str, chosen: str | None) -> None:
    assert encoding_for(accept_encoding) == chosen


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_compressed_replies(client: TestClient, encoding: str) -> None:
    plain = client.post("/v1/embeddings", json=MANY, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    reply = client.post("/v1/embeddings", json=MANY, headers={"accept-encoding": encoding})
    assert reply.headers["content-encoding"] == encoding
    assert "accept-encoding" in reply.headers["vary"].lower()
    assert int(reply.headers["content-length"]) < len(plain.content)
    usage = orjson.loads(decoded_body(reply.content, encoding))["usage"]
    assert usage == plain.json()["usage"]


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def decoded_body(content: bytes, encoding: str) -> bytes:
    """httpx decodes gzip always and zstd only with its optional zstd support."""
    if encoding == "zstd" and content.startswith(ZSTD_MAGIC):
        return bytes(zstandard.ZstdDecompressor().decompress(content))
    return content


def test_small_replies_are_not_compressed(client: TestClient) -> None:
    reply = client.get("/health", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in reply.headers


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    given = client.post("/embed", json={"inputs": "a"}, headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.post("/embed", json={"inputs": ""})
    assert len(made.headers["x-request-id"]) == 32


def test_cors_is_off_unless_configured(make_app: AppFactory) -> None:
    preflight = {"origin": "https://app.example", "access-control-request-method": "POST"}
    with TestClient(make_app()) as off:
        assert "access-control-allow-origin" not in off.options("/embed", headers=preflight).headers
    with TestClient(make_app(cors_origins=("https://app.example",))) as on:
        reply = on.options("/embed", headers=preflight)
        assert reply.status_code == 200
        assert reply.headers["access-control-allow-origin"] == "https://app.example"
        simple = on.post("/embed", json={"inputs": "a"}, headers={"origin": "https://app.example"})
        assert simple.headers["access-control-allow-origin"] == "https://app.example"
        other = on.options("/embed", headers={**preflight, "origin": "https://evil.example"})
        assert other.status_code == 400


def test_tracing_spans_follow_the_callers_trace(tokenizer: TextTokenizer) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = ServerSettings(tokenization_workers=1, tracing=True)
    app = create_app(make_engine(), tokenizer, make_profile(), settings, tracer_provider=provider)
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    parent = f"00-{trace_id}-b7ad6b7169203331-01"
    with TestClient(app) as client:
        client.post("/embed", json={"inputs": "a"}, headers={"traceparent": parent})
        client.get("/health")
    spans = {span.name: span for span in exporter.get_finished_spans()}
    embed = spans["POST /embed"]
    assert format(embed.context.trace_id, "032x") == trace_id
    assert embed.attributes is not None
    assert embed.attributes["http.response.status_code"] == 200
    assert embed.attributes["http.route"] == "/embed"
    assert "GET /health" in spans


def test_no_spans_without_tracing(tokenizer: TextTokenizer) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = ServerSettings(tokenization_workers=1)
    app = create_app(make_engine(), tokenizer, make_profile(), settings, tracer_provider=provider)
    with TestClient(app) as client:
        client.post("/embed", json={"inputs": "a"})
    assert exporter.get_finished_spans() == ()


def test_trailing_slash_is_served_not_redirected(client: TestClient) -> None:
    reply = client.post("/embed/", json={"inputs": "a"}, follow_redirects=False)
    assert reply.status_code == 200 and len(reply.json()) == 1
    assert client.get("/health/", follow_redirects=False).status_code == 200


def test_405_names_the_allowed_methods(client: TestClient) -> None:
    reply = client.put("/embed", json={"inputs": "a"})
    assert reply.status_code == 405 and reply.headers["allow"] == "POST"
    assert reply.json()["error"]["code"] == 405


def test_health_is_json(client: TestClient) -> None:
    reply = client.get("/health")
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "body",
    [b'{"input": "\\ud800"}', b'{"input": "a\\udfff b"}', b'{"input": "\xff\xfe"}'],
)
def test_undecodable_text_is_400(client: TestClient, body: bytes) -> None:
    reply = client.post(
        "/v1/embeddings", content=body, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400, reply.text
    assert "not valid JSON" in reply.json()["error"]["message"]


def test_surrogate_pairs_are_fine(client: TestClient) -> None:
    body = b'{"input": "rocket \\ud83d\\ude80"}'
    reply = client.post(
        "/v1/embeddings", content=body, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 200
