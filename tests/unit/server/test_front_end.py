"""The HTTP front-end as a client sees it, over real TCP on 127.0.0.1 (`run.serve` under
granian): header and body read timeouts, header caps, SIGTERM drain (503s while in-flight
requests finish, 0 failed), two workers on one port, and h2c."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.unit.server.support import DIM

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
TIMEOUT_S = 1.0  # the server's header and body read timeouts in these tests
GENEROUS_S = 15.0  # how long a test waits for what should take TIMEOUT_S
EMBED = {"input": "hello world"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FrontEnd:
    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.unit.server.front_end_server", str(self.port), *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, for the group-kill test
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(self.output())
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError("the front-end did not become healthy")

    def output(self) -> str:
        return self.process.stdout.read().decode() if self.process.stdout else ""

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.settimeout(GENEROUS_S)
        return sock

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(GENEROUS_S * 2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def read_until_closed(sock: socket.socket) -> bytes:
    """What the server sent before it closed the connection (a recv timeout fails the test)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.fixture(scope="module")
def front_end() -> Iterator[FrontEnd]:
    server = FrontEnd(
        "--header-timeout",
        str(TIMEOUT_S),
        "--body-timeout",
        str(TIMEOUT_S),
        "--max-header-bytes",
        "16384",
    )
    try:
        yield server
    finally:
        server.stop()


def test_slowloris_connections_are_closed_after_the_header_timeout(front_end: FrontEnd) -> None:
    connections = [front_end.connect() for _ in range(20)]
    for sock in connections:
        sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: bei\r\nX-Slow: ")
    started = time.monotonic()
    for sock in connections:
        assert read_until_closed(sock) == b""  # closed, not answered
        sock.close()
    assert time.monotonic() - started < GENEROUS_S
    # Other clients were served all along.
    assert httpx.post(f"{front_end.url}/v1/embeddings", json=EMBED).status_code == 200


def test_an_idle_keep_alive_connection_is_closed(front_end: FrontEnd) -> None:
    sock = front_end.connect()
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: bei\r\n\r\n")
    assert read_until_closed(sock).startswith(b"HTTP/1.1 200")
    sock.close()


def test_a_stalled_upload_is_answered_408_and_closed(front_end: FrontEnd) -> None:
    sock = front_end.connect()
    sock.sendall(
        b"POST /v1/embeddings HTTP/1.1\r\nHost: bei\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n" + b'{"input": "' + b"a" * 5000
    )
    reply = read_until_closed(sock)
    sock.close()
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert b"connection: close" in head.lower()
    assert b'"type":"request_timeout"' in body


def test_header_caps_answer_431(front_end: FrontEnd) -> None:
    big = httpx.get(f"{front_end.url}/health", headers={"x-big": "a" * 20_000})
    many = httpx.get(f"{front_end.url}/health", headers={f"x-h{i}": "a" for i in range(120)})
    assert big.status_code == 431 and many.status_code == 431
    assert httpx.get(f"{front_end.url}/health", headers={"x-ok": "a" * 8000}).status_code == 200


def test_h2c_with_prior_knowledge(front_end: FrontEnd) -> None:
    with httpx.Client(http1=False, http2=True) as client:
        reply = client.post(f"{front_end.url}/v1/embeddings", json=EMBED)
    assert reply.http_version == "HTTP/2"
    assert reply.status_code == 200 and len(reply.json()["data"][0]["embedding"]) == DIM


def test_an_upgrade_h2c_request_is_answered_over_http1(front_end: FrontEnd) -> None:
    """hyper does not upgrade; the request is served as plain HTTP/1.1 (not a 400)."""
    reply = httpx.post(
        f"{front_end.url}/v1/embeddings",
        json=EMBED,
        headers={"connection": "Upgrade, HTTP2-Settings", "upgrade": "h2c", "http2-settings": ""},
    )
    assert reply.status_code == 200 and reply.http_version == "HTTP/1.1"


def start_in_flight(server: FrontEnd, count: int) -> tuple[list[threading.Thread], list[int]]:
    """`count` requests to a server whose engine takes 3 s, in the server when this returns."""
    statuses: list[int] = []
    sent = threading.Semaphore(0)

    def post() -> None:
        hooks = {"request": [lambda _request: sent.release()]}
        with httpx.Client(event_hooks=hooks, timeout=GENEROUS_S) as client:
            statuses.append(client.post(f"{server.url}/v1/embeddings", json=EMBED).status_code)

    workers = [threading.Thread(target=post) for _ in range(count)]
    for worker in workers:
        worker.start()
    for _ in workers:
        assert sent.acquire(timeout=GENEROUS_S)
    time.sleep(1.0)  # sent a second ago: in the server now, and 2 s from done
    return workers, statuses


def test_sigterm_drains_with_503s_and_no_failed_request_in_flight() -> None:
    server = FrontEnd("--delay", "3")
    try:
        workers, in_flight = start_in_flight(server, 4)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        health = httpx.get(f"{server.url}/health", timeout=5)
        refused = httpx.post(f"{server.url}/v1/embeddings", json=EMBED, timeout=5)
        for worker in workers:
            worker.join(GENEROUS_S)
        assert health.status_code == 503 and health.json()["error"]["type"] == "service_unavailable"
        assert refused.status_code == 503 and refused.headers["connection"] == "close"
        assert in_flight == [200] * 4
        assert server.process.wait(GENEROUS_S) == 0
    finally:
        server.stop()


def test_a_process_group_sigterm_drains_two_workers() -> None:
    """systemd and `kill -- -PGID` signal every process: each front-end gets SIGTERM itself
    and the parent's relay too; that must still be one drain, not a stop."""
    server = FrontEnd("--workers", "2", "--delay", "3")
    try:
        workers, in_flight = start_in_flight(server, 6)
        os.killpg(server.process.pid, signal.SIGTERM)
        time.sleep(0.3)
        for _ in range(10):  # new connections, over both front-ends: 503, never refused
            with httpx.Client(timeout=5) as client:
                assert client.post(f"{server.url}/v1/embeddings", json=EMBED).status_code == 503
        for worker in workers:
            worker.join(GENEROUS_S)
        assert in_flight == [200] * 6
        assert server.process.wait(GENEROUS_S * 2) == 0
    finally:
        server.stop()


def test_two_workers_serve_one_port_and_drain_together() -> None:
    server = FrontEnd("--workers", "2")
    try:
        children = [
            pid
            for pid in subprocess.run(
                ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True
            ).stdout.split()
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(children) == 2
        answered_by = set()
        for _ in range(40):
            with httpx.Client() as client:  # a new connection each time: the kernel spreads them
                reply = client.post(f"{server.url}/v1/embeddings", json=EMBED)
            assert reply.status_code == 200
            answered_by.add(reply.headers["x-request-id"][:16])  # a per-process prefix
        assert len(answered_by) == 2
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(GENEROUS_S * 2) == 0
        deadline = time.monotonic() + GENEROUS_S
        while any(Path(f"/proc/{pid}").exists() for pid in children):
            assert time.monotonic() < deadline, "a front-end outlived serve()"
            time.sleep(0.1)
    finally:
        server.stop()


def test_more_workers_than_an_app_object_or_a_lambda_allows_is_refused() -> None:
    from bei_cli.errors import ConfigError
    from bei_cli.server.run import serve
    from bei_cli.server.settings import ServerSettings

    settings = ServerSettings(port=free_port(), workers=2)
    with pytest.raises(ConfigError, match="picklable"):
        serve(lambda: None, settings)
    app = FastAPI()
    with pytest.raises(ConfigError, match="need an app factory"):
        serve(app, settings)
