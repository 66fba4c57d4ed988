"""Every bad request gets the right status in OpenAI's error envelope, and the server keeps
serving afterwards. Also: auth, body limits, overload, engine failures, internal bugs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from bei_cli.engine.fake import FakeEngine, fake_info
from bei_cli.errors import ConfigError
from tests.unit.server.support import (
    DIM,
    MAX_SEQ_LEN,
    AppFactory,
    RecordingEngine,
    make_engine,
    make_profile,
)

JSON = {"content-type": "application/json"}
GOOD = {"input": "still serving"}


def assert_envelope(reply: Response, status: int, param: str | None = None) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == status and error["message"] and error["type"]
    assert error["param"] == param
    return dict(error)


@pytest.fixture
def strict_client(make_app: AppFactory) -> Iterator[TestClient]:
    with TestClient(make_app(max_client_batch_size=4, auto_truncate=False)) as client:
        yield client


RAW_BODIES = [
    pytest.param("{not json", JSON, 400, None, id="malformed-json"),
    pytest.param("", JSON, 400, None, id="empty-body"),
    pytest.param('{"input": "x"}', {"content-type": "text/plain"}, 415, None, id="text-plain"),
    pytest.param(
        "input=x", {"content-type": "application/x-www-form-urlencoded"}, 415, None, id="form"
    ),
    pytest.param('["x"]', JSON, 422, None, id="body-is-a-list"),
]


@pytest.mark.parametrize(("body", "headers", "status", "param"), RAW_BODIES)
def test_malformed_bodies(
    strict_client: TestClient, body: str, headers: dict[str, str], status: int, param: str | None
) -> None:
    reply = strict_client.post("/v1/embeddings", content=body, headers=headers)
    assert_envelope(reply, status, param)
    assert strict_client.post("/v1/embeddings", json=GOOD).status_code == 200


BAD_FIELDS = [
    pytest.param({}, 422, "input", id="missing-input"),
    pytest.param({"input": ""}, 400, "input", id="empty-string"),
    pytest.param({"input": []}, 400, "input", id="empty-list"),
    pytest.param({"input": ["a", ""]}, 400, "input", id="empty-string-in-list"),
    pytest.param({"input": [[]]}, 400, "input", id="empty-token-list"),
    pytest.param({"input": 123}, 422, "input", id="number"),
    pytest.param({"input": {"a": 1}}, 422, "input", id="object"),
    pytest.param({"input": [1, "a"]}, 422, "input", id="mixed-ids-and-text"),
    pytest.param({"input": ["a"] * 5}, 413, "input", id="too-many-inputs"),
    pytest.param({"input": "word " * 400}, 422, "input", id="too-long-no-truncate"),
    pytest.param({"input": [[30522]]}, 422, "input", id="id-outside-vocab"),
    pytest.param({"input": "a", "encoding_format": "int8"}, 422, "encoding_format", id="format"),
    pytest.param({"input": "a", "dimensions": 0}, 422, "dimensions", id="dimensions-zero"),
    pytest.param({"input": "a", "dimensions": -3}, 422, "dimensions", id="dimensions-negative"),
    pytest.param({"input": "a", "dimensions": DIM + 1}, 422, "dimensions", id="dimensions-big"),
    pytest.param({"input": "a", "dimensions": "x"}, 422, "dimensions", id="dimensions-type"),
]


@pytest.mark.parametrize(("body", "status", "param"), BAD_FIELDS)
def test_bad_openai_fields(
    strict_client: TestClient, body: dict[str, Any], status: int, param: str
) -> None:
    assert_envelope(strict_client.post("/v1/embeddings", json=body), status, param)
    assert strict_client.post("/v1/embeddings", json=GOOD).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"inputs": "a", "truncation_direction": "up"}, 422, "truncation_direction"),
        ({"inputs": "a", "normalize": "maybe"}, 422, "normalize"),
        ({"inputs": ""}, 400, "inputs"),
        ({"input": "a"}, 422, "inputs"),
    ],
)
def test_bad_tei_fields(
    strict_client: TestClient, body: dict[str, Any], status: int, param: str
) -> None:
    assert_envelope(strict_client.post("/embed", json=body), status, param)
    assert strict_client.post("/embed", json={"inputs": "ok"}).status_code == 200


def test_too_long_error_says_how_to_fix_it(strict_client: TestClient) -> None:
    error = assert_envelope(
        strict_client.post("/v1/embeddings", json={"input": "word " * 400}), 422, "input"
    )
    assert f"must have less than {MAX_SEQ_LEN} tokens. Given: 402" in error["message"]
    assert "truncate=true" in error["message"]


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    assert assert_envelope(client.get("/nope"), 404)["type"] == "not_found_error"
    assert_envelope(client.post("/v2/embeddings", json=GOOD), 404)
    assert_envelope(client.get("/v1/embeddings"), 405)
    assert client.post("/v1/embeddings", json=GOOD).status_code == 200


def test_body_over_the_limit_is_413(make_app: AppFactory) -> None:
    with TestClient(make_app(payload_limit_bytes=1000)) as client:
        big = {"input": "x" * 2000}
        assert_envelope(client.post("/v1/embeddings", json=big), 413)

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
            yield b'{"input": "'
            yield b"x" * 2000
            yield b'"}'

        assert_envelope(client.post("/v1/embeddings", content=chunks(), headers=JSON), 413)
        assert client.post("/v1/embeddings", json={"input": "small"}).status_code == 200


def test_a_failing_batch_is_a_500_and_the_next_request_succeeds(make_app: AppFactory) -> None:
    with TestClient(make_app(engine=make_engine(fail_on_token=666))) as client:
        error = assert_envelope(client.post("/v1/embeddings", json={"input": [[5, 666]]}), 500)
        assert error["type"] == "engine_error"
        assert "666" not in error["message"]
        assert client.post("/v1/embeddings", json={"input": [[5, 6]]}).status_code == 200
        assert client.get("/health").status_code == 200


def test_internal_bugs_are_a_generic_500(make_app: AppFactory) -> None:
    app = make_app()

    async def broken() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/broken", broken, methods=["GET"])
    with TestClient(app) as client:
        reply = client.get("/broken")
        error = assert_envelope(reply, 500)
        assert error["message"] == "Internal server error."
        assert "secret" not in reply.text
        assert client.post("/v1/embeddings", json=GOOD).status_code == 200


def test_requests_beyond_the_concurrency_limit_get_429(make_app: AppFactory) -> None:
    engine = RecordingEngine(make_engine(), hold=True)
    with TestClient(make_app(engine=engine, max_concurrent_requests=1)) as client:
        first: list[Response] = []
        worker = threading.Thread(
            target=lambda: first.append(client.post("/v1/embeddings", json=GOOD))
        )
        worker.start()
        assert engine.started.wait(5)
        error = assert_envelope(client.post("/v1/embeddings", json=GOOD), 429)
        assert error["type"] == "overloaded_error"
        engine.release.set()
        worker.join(5)
        assert first[0].status_code == 200
        assert client.post("/v1/embeddings", json=GOOD).status_code == 200


def test_embedding_routes_refuse_other_tasks(make_app: AppFactory) -> None:
    engine = FakeEngine(fake_info(task="classify", dim=2, max_seq_len=MAX_SEQ_LEN))
    profile = make_profile(task="classify", pooling=None, id2label=((0, "neg"), (1, "pos")))
    with TestClient(make_app(engine=engine, profile=profile)) as client:
        assert_envelope(client.post("/v1/embeddings", json=GOOD), 424)
        info = client.get("/info").json()
        assert info["model_type"] == {
            "classifier": {"id2label": {"0": "neg", "1": "pos"}, "label2id": {"neg": 0, "pos": 1}}
        }


def test_batch_budget_below_the_model_length_is_a_config_error(make_app: AppFactory) -> None:
    engine = FakeEngine(
        replace(fake_info(max_seq_len=MAX_SEQ_LEN), max_batch_tokens=MAX_SEQ_LEN - 1)
    )
    with pytest.raises(ConfigError, match="max_batch_tokens"):
        make_app(engine=engine)


API_KEY = "sekret-key"


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer wrong", 401),
        ("Basic " + API_KEY, 401),
        ("Bearer", 401),
        ("Bearer " + API_KEY, 200),
        ("bearer " + API_KEY, 200),
        ("Api-Key " + API_KEY, 200),
    ],
)
def test_api_key_on_model_routes(make_app: AppFactory, header: str | None, status: int) -> None:
    headers = {"authorization": header} if header else {}
    with TestClient(make_app(api_key=API_KEY)) as client:
        for path, body in (("/v1/embeddings", GOOD), ("/embed", {"inputs": "x"}), ("/", GOOD)):
            reply = client.post(path, json=body, headers=headers)
            if status == 401:
                assert assert_envelope(reply, 401)["type"] == "authentication_error"
                assert reply.headers["www-authenticate"] == "Bearer"
            else:
                assert reply.status_code == 200
        assert client.get("/info", headers=headers).status_code == status


def test_open_routes_need_no_key(make_app: AppFactory) -> None:
    with TestClient(make_app(api_key=API_KEY)) as client:
        for path in ("/health", "/metrics", "/openapi.json", "/docs"):
            assert client.get(path).status_code == 200, path


def test_without_a_key_configured_everything_is_open(client: TestClient) -> None:
    headers = {"authorization": "Bearer anything"}
    assert client.post("/v1/embeddings", json=GOOD, headers=headers).status_code == 200
    assert client.get("/info").status_code == 200
