"""Plain-HTTP clients against a real `bei serve`: curl's `--http2` upgrade request (answered over
HTTP/1.1: uvicorn has no h2c), compression and request ids over TCP, and `bei serve --cors`."""

from __future__ import annotations

import socket

import httpx
import orjson
import pytest

from tests.integration.fake_servers import FakeServers, assert_close, reference_vector

pytestmark = pytest.mark.integration

ORIGIN = "https://app.example"


def raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_h2c_upgrade_falls_back_to_http1(fake_servers: FakeServers) -> None:
    """What `curl --http2 http://...` sends: the server may ignore the upgrade (RFC 9110) and
    must then answer the request itself over HTTP/1.1, not with a 400."""
    server = fake_servers("embed")
    body = b'{"input": "hello world"}'
    request = (
        b"POST /v1/embeddings HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Connection: Upgrade, HTTP2-Settings, close\r\n"
        b"Upgrade: h2c\r\n"
        b"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    reply = raw_request(server.port, request)
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    vector = orjson.loads(payload)["data"][0]["embedding"]
    assert_close(vector, reference_vector("hello world"))


def test_gzip_and_request_id_over_tcp(fake_servers: FakeServers) -> None:
    server = fake_servers("embed")
    texts = [f"text {i}" for i in range(30)]
    reply = httpx.post(
        f"{server.url}/embed",
        json={"inputs": texts},
        headers={"accept-encoding": "gzip", "x-request-id": "trace-me-42"},
    )
    assert reply.headers["content-encoding"] == "gzip"
    assert reply.headers["x-request-id"] == "trace-me-42"
    for vector, text in zip(reply.json(), texts, strict=True):
        assert_close(vector, reference_vector(text))


def test_cors_opt_in(fake_servers: FakeServers) -> None:
    server = fake_servers("embed", "--cors", ORIGIN)
    preflight = httpx.options(
        f"{server.url}/v1/embeddings",
        headers={"origin": ORIGIN, "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    plain = fake_servers("embed")
    reply = httpx.post(f"{plain.url}/embed", json={"inputs": "a"}, headers={"origin": ORIGIN})
    assert "access-control-allow-origin" not in reply.headers
