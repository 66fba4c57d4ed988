"""A real `bei serve` front-end (granian) on 127.0.0.1: graceful SIGTERM drain, and the unmodified
baseten-performance-client and OpenAI SDK talking to it over TCP."""

from __future__ import annotations

import base64
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.unit.server.support import DIM

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
SLOW_S = 1.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(delay_s: float, task: str | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A real front-end running tests.unit.server.fake_server on a free 127.0.0.1 port."""
    port = free_port()
    task_arg = [task] if task else []
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.server.fake_server", str(port), str(delay_s), *task_arg],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read().decode() if process.stdout else "exited")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    stop(process)
    raise AssertionError("server did not become healthy")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    process, url = start_server(delay_s=0.0)
    try:
        yield url
    finally:
        stop(process)


def test_sigterm_drains_the_request_in_flight() -> None:
    process, url = start_server(delay_s=SLOW_S)
    try:
        replies: list[httpx.Response] = []
        worker = threading.Thread(
            target=lambda: replies.append(
                httpx.post(f"{url}/v1/embeddings", json={"input": "slow"}, timeout=30)
            )
        )
        worker.start()
        time.sleep(SLOW_S / 3)  # the request is in the engine now
        process.send_signal(signal.SIGTERM)
        worker.join(30)
        assert replies and replies[0].status_code == 200
        assert len(replies[0].json()["data"][0]["embedding"]) == DIM
        output, _ = process.communicate(timeout=30)
        # serve() returns after the drain; the process exits 0.
        assert process.returncode in (0, -signal.SIGTERM), output.decode()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/health", timeout=1)
    finally:
        stop(process)


def test_performance_client_works_unmodified(server: str) -> None:
    from baseten_performance_client import PerformanceClient

    client = PerformanceClient(base_url=server, api_key="unused")
    texts = [f"text number {i}" for i in range(20)]
    reply = client.embed(input=texts, model="any")
    assert [item.index for item in reply.data] == list(range(20))
    assert reply.numpy().shape == (20, DIM)
    assert reply.usage.total_tokens > 0 and reply.model == "bei"
    packed = client.embed(input=texts[:3], model="any", encoding_format="base64", dimensions=8)
    decoded = [np.frombuffer(base64.b64decode(d.embedding), "<f4") for d in packed.data]
    assert all(v.shape == (8,) for v in decoded)


def test_openai_sdk_over_tcp(server: str) -> None:
    from openai import OpenAI

    reply = OpenAI(base_url=f"{server}/v1", api_key="unused").embeddings.create(
        input=["a", "b"], model="m"
    )
    assert len(reply.data) == 2 and len(reply.data[0].embedding) == DIM


def test_a_client_that_gives_up_is_dropped_before_compute() -> None:
    process, url = start_server(delay_s=0.8)
    try:
        first: list[httpx.Response] = []
        worker = threading.Thread(
            target=lambda: first.append(
                httpx.post(f"{url}/v1/embeddings", json={"input": "first"}, timeout=30)
            )
        )
        worker.start()
        time.sleep(0.3)  # the first request is in the engine now
        with pytest.raises(httpx.TimeoutException):
            httpx.post(f"{url}/v1/embeddings", json={"input": "abandoned"}, timeout=0.2)
        worker.join(30)
        assert first[0].status_code == 200
        metrics = httpx.get(f"{url}/metrics").text
        assert "bei_dropped_inputs_total 1.0" in metrics
        assert "bei_batch_size_sum 1.0" in metrics  # only the first input was ever computed
    finally:
        stop(process)
