"""The fast lane answers exactly what the full app answers: every case is sent to an app with
the lane and to one without (`fast_lane=False`), and status, body and headers must agree (the
timing headers' values and the request id aside). Each case also says whether the lane must
have answered it itself, read it and handed it on, or not touched it -- so a lane that declined
everything would fail here, and so would one that answered what it must leave to the routes."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Literal

import orjson
import pytest
import zstandard
from fastapi.testclient import TestClient

from tests.unit.server.support import AppFactory

Lane = Literal["served", "declined", "untouched"]
API_KEY = "s3cret"
TIMING = ("x-compute-time", "x-total-time", "x-tokenization-time", "x-queue-time")
TIMING_VALUES = (*TIMING, "x-inference-time")
JSON = {"content-type": "application/json"}
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LONG_TEXT = "word " * 400  # over the test model's 256 tokens


def body(value: object) -> bytes:
    return orjson.dumps(value)


# (name, path, body, headers, what the lane must do)
CASES: list[tuple[str, str, bytes, dict[str, str], Lane]] = [
    ("openai text", "/v1/embeddings", body({"input": "hello world"}), JSON, "served"),
    (
        "openai list, base64, dimensions, model, user",
        "/v1/embeddings",
        body(
            {
                "input": ["a", "b c", "日本語"],
                "encoding_format": "base64",
                "dimensions": 8,
                "model": "x",
                "user": "u",
            }
        ),
        JSON,
        "served",
    ),
    ("openai alias path", "/embeddings", body({"input": ["x", "y"]}), JSON, "served"),
    ("openai token ids", "/v1/embeddings", body({"input": [[101, 7592, 102]]}), JSON, "served"),
    ("unknown fields ignored", "/v1/embeddings", body({"input": "a", "extra": 1}), JSON, "served"),
    (
        "whole-number float",
        "/v1/embeddings",
        body({"input": "a", "dimensions": 4.0}),
        JSON,
        "served",
    ),
    (
        "tei options",
        "/embed",
        body(
            {
                "inputs": ["one", "two"],
                "normalize": False,
                "truncate": True,
                "truncation_direction": "Left",
                "dimensions": 5,
                "prompt_name": "query",
            }
        ),
        JSON,
        "served",
    ),
    ("tei long text truncated", "/embed", body({"inputs": LONG_TEXT}), JSON, "served"),
    (
        "tei long text, no truncation: 422",
        "/embed",
        body({"inputs": LONG_TEXT, "truncate": False}),
        JSON,
        "served",
    ),
    (
        "tei unknown prompt: 422",
        "/embed",
        body({"inputs": "a", "prompt_name": "nope"}),
        JSON,
        "served",
    ),
    (
        "dimensions too large: 422",
        "/v1/embeddings",
        body({"input": "a", "dimensions": 99}),
        JSON,
        "served",
    ),
    ("too many inputs: 413", "/v1/embeddings", body({"input": ["a"] * 9}), JSON, "served"),
    (
        "msgpack reply",
        "/v1/embeddings",
        body({"input": ["a", "b"]}),
        {**JSON, "accept": "application/json, application/msgpack"},
        "served",
    ),
    (
        "gzip reply",
        "/v1/embeddings",
        body({"input": ["a text"] * 8}),
        {**JSON, "accept-encoding": "gzip"},
        "served",
    ),
    (
        "zstd reply",
        "/embed",
        body({"inputs": ["a text"] * 8}),
        {**JSON, "accept-encoding": "zstd, gzip"},
        "served",
    ),
    (
        "deadline headers",
        "/v1/embeddings",
        body({"input": "a"}),
        {**JSON, "request-timeout-ms": "60000", "request-deadline-ms": "99999999999999"},
        "served",
    ),
    (
        "malformed deadline header: 400",
        "/v1/embeddings",
        body({"input": "a"}),
        {**JSON, "request-timeout-ms": "soon"},
        "served",
    ),
    (
        "charset json",
        "/v1/embeddings",
        body({"input": "a"}),
        {"content-type": "application/json; charset=utf-8"},
        "served",
    ),
    ("empty list: 400", "/v1/embeddings", body({"input": []}), JSON, "declined"),
    ("empty text: 400", "/v1/embeddings", body({"input": ["a", ""]}), JSON, "declined"),
    ("wrong type: 422", "/v1/embeddings", body({"input": 5}), JSON, "declined"),
    (
        "bool dimensions: 422",
        "/v1/embeddings",
        body({"input": "a", "dimensions": True}),
        JSON,
        "declined",
    ),
    (
        "bad encoding_format: 422",
        "/v1/embeddings",
        body({"input": "a", "encoding_format": "hex"}),
        JSON,
        "declined",
    ),
    ("missing field: 422", "/v1/embeddings", body({"model": "x"}), JSON, "declined"),
    ("not an object: 422", "/v1/embeddings", body(["a"]), JSON, "declined"),
    ("invalid json: 400", "/v1/embeddings", b'{"input": "a",', JSON, "declined"),
    ("lone surrogate: 400", "/v1/embeddings", b'{"input": "\\ud800"}', JSON, "declined"),
    ("empty body", "/v1/embeddings", b"", JSON, "declined"),
    (
        "tei bad direction: 422",
        "/embed",
        body({"inputs": "a", "truncation_direction": "up"}),
        JSON,
        "declined",
    ),
    (
        "text/plain: 415",
        "/v1/embeddings",
        body({"input": "a"}),
        {"content-type": "text/plain"},
        "untouched",
    ),
    ("no content-type", "/v1/embeddings", body({"input": "a"}), {}, "untouched"),
    (
        "gzip-encoded request",
        "/v1/embeddings",
        gzip.compress(body({"input": "a"})),
        {**JSON, "content-encoding": "gzip"},
        "untouched",
    ),
    ("trailing slash", "/v1/embeddings/", body({"input": "a"}), JSON, "untouched"),
    ("root dispatch", "/", body({"input": "a"}), JSON, "untouched"),
    (
        "over the payload limit: 413",
        "/v1/embeddings",
        body({"input": "a" * 5000}),
        JSON,
        "untouched",
    ),
]

PAYLOAD_LIMIT = 4096


@pytest.fixture
def clients(make_app: AppFactory) -> Iterator[tuple[TestClient, TestClient]]:
    settings = {"max_client_batch_size": 8, "payload_limit_bytes": PAYLOAD_LIMIT}
    with (
        TestClient(make_app(**settings)) as lane,
        TestClient(make_app(fast_lane=False, **settings)) as full,
    ):
        assert not hasattr(full.app.state, "fast_lane")  # type: ignore[attr-defined]
        yield lane, full


def comparable(response) -> tuple[int, bytes, dict[str, str]]:  # type: ignore[no-untyped-def]
    headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
    for name in TIMING_VALUES:  # values are durations; the names must match
        if name in headers:
            headers[name] = "<ms>"
    assert "x-request-id" in response.headers
    return response.status_code, response.content, headers


@pytest.mark.parametrize(
    ("name", "path", "content", "headers", "lane"), CASES, ids=[c[0] for c in CASES]
)
def test_the_lane_answers_as_the_full_app(
    clients: tuple[TestClient, TestClient],
    name: str,
    path: str,
    content: bytes,
    headers: dict[str, str],
    lane: Lane,
) -> None:
    fast, full = clients
    stats = fast.app.state.fast_lane  # type: ignore[attr-defined]
    got = fast.post(path, content=content, headers=headers)
    want = full.post(path, content=content, headers=headers)
    assert comparable(got) == comparable(want), name
    assert (stats.served, stats.declined) == {
        "served": (1, 0),
        "declined": (0, 1),
        "untouched": (0, 0),
    }[lane]
    if "accept-encoding" in headers:  # compressed, and the same reply
        encoding = got.headers["content-encoding"]
        assert encoding in headers["accept-encoding"]
        raw = got.content  # httpx decodes gzip, and zstd only where it has zstd support
        if encoding == "zstd" and raw.startswith(ZSTD_MAGIC):
            raw = zstandard.ZstdDecompressor().decompress(raw)
        assert int(got.headers["content-length"]) < len(raw)
        assert orjson.loads(raw) == fast.post(path, content=content, headers=JSON).json()


@pytest.mark.parametrize(
    ("authorization", "lane"),
    [
        (f"Bearer {API_KEY}", "served"),
        (f"Api-Key {API_KEY}", "served"),
        ("Bearer wrong", "untouched"),
        (None, "untouched"),
    ],
)
def test_api_key(make_app: AppFactory, authorization: str | None, lane: Lane) -> None:
    headers = {**JSON, **({"authorization": authorization} if authorization else {})}
    with (
        TestClient(make_app(api_key=API_KEY)) as fast,
        TestClient(make_app(api_key=API_KEY, fast_lane=False)) as full,
    ):
        got = fast.post("/v1/embeddings", content=body({"input": "a"}), headers=headers)
        want = full.post("/v1/embeddings", content=body({"input": "a"}), headers=headers)
        assert comparable(got) == comparable(want)
        assert got.status_code == (200 if lane == "served" else 401)
        assert fast.app.state.fast_lane.served == (lane == "served")  # type: ignore[attr-defined]


@pytest.mark.parametrize("origin", [None, "https://app.example", "https://evil.example"])
def test_with_cors_every_request_takes_the_full_path(
    make_app: AppFactory, origin: str | None
) -> None:
    headers = {**JSON, **({"origin": origin} if origin else {})}
    cors = {"cors_origins": ("https://app.example",)}
    with (
        TestClient(make_app(**cors)) as fast,
        TestClient(make_app(fast_lane=False, **cors)) as full,
    ):
        got = fast.post("/v1/embeddings", content=body({"input": "a"}), headers=headers)
        want = full.post("/v1/embeddings", content=body({"input": "a"}), headers=headers)
        assert comparable(got) == comparable(want)
        assert fast.app.state.fast_lane.served == 0  # type: ignore[attr-defined]


def test_metrics_label_the_lanes_answers_by_route(clients: tuple[TestClient, TestClient]) -> None:
    fast, _ = clients
    for path in ("/v1/embeddings", "/embeddings"):
        assert fast.post(path, content=body({"input": "a"}), headers=JSON).status_code == 200
    assert (
        fast.post(
            "/embed", content=body({"inputs": "a", "dimensions": 99}), headers=JSON
        ).status_code
        == 422
    )
    metrics = fast.get("/metrics").text
    assert 'bei_requests_total{route="/v1/embeddings",status="200"} 1.0' in metrics
    assert 'bei_requests_total{route="/embeddings",status="200"} 1.0' in metrics
    assert 'bei_requests_total{route="/embed",status="422"} 1.0' in metrics
    assert "bei_inputs_total 2.0" in metrics
    assert fast.app.state.fast_lane.served == 3  # type: ignore[attr-defined]


def test_no_lane_for_other_tasks(make_app: AppFactory) -> None:
    from tests.unit.server.support import make_profile

    with TestClient(make_app(profile=make_profile(task="rerank"))) as client:
        assert not hasattr(client.app.state, "fast_lane")  # type: ignore[attr-defined]
