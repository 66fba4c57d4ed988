"""The served half of bench_gpu.py: `bei serve --device D` on an artifact, driven over HTTP.

One input per request to /v1/embeddings with 64 requests in flight (the BEI table's method), by
the baseten-performance-client where it is installed (as bench_http.py), else by an asyncio
httpx client; then p50 latency at concurrency 1. Tokens are counted as sent.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from bench_http import free_port, make_texts

CONCURRENCY = 64
LONG, SHORT = 500, 5
HEALTH_TIMEOUT_S = 240  # a 0.6B model loads and captures its CUDA graphs first


@dataclass(frozen=True)
class ServedResult:
    client: str
    long_tokens_per_s: float
    short_requests_per_s: float
    long_p50_ms: float
    short_p50_ms: float
    requests: int

    def to_dict(self) -> dict[str, Any]:
        return {key: round(v, 2) if isinstance(v, float) else v for key, v in asdict(self).items()}


def start(artifact: Path, device: str, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bei_cli",
        "serve",
        str(artifact),
        "--device",
        device,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, stdout=log_path.open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"bei serve exited early (exit {process.returncode}); see {log_path}"
            )
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"bei serve did not become healthy in {HEALTH_TIMEOUT_S} s; see {log_path}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def performance_client_burst(url: str, texts: list[str]) -> float:
    from baseten_performance_client import PerformanceClient, RequestProcessingPreference

    client = PerformanceClient(base_url=url, api_key="unused")
    preference = RequestProcessingPreference(max_concurrent_requests=CONCURRENCY, max_retries=0)
    payloads = [{"input": text, "model": "bench"} for text in texts]
    start_time = time.perf_counter()
    response = client.batch_post("/v1/embeddings", payloads, preference=preference)
    assert len(response.data) == len(texts)
    return time.perf_counter() - start_time


async def _httpx_burst(url: str, texts: list[str]) -> float:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    gate = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:

        async def one(text: str) -> None:
            async with gate:
                reply = await client.post("/v1/embeddings", json={"input": text, "model": "b"})
                reply.raise_for_status()

        start_time = time.perf_counter()
        await asyncio.gather(*(one(text) for text in texts))
        return time.perf_counter() - start_time


def httpx_burst(url: str, texts: list[str]) -> float:
    return asyncio.run(_httpx_burst(url, texts))


def burst_client() -> tuple[str, Any]:
    try:
        import baseten_performance_client  # noqa: F401
    except ImportError:
        return "httpx (asyncio)", httpx_burst
    return "baseten-performance-client", performance_client_burst


def latency_p50_ms(url: str, texts: list[str]) -> float:
    with httpx.Client(base_url=url, timeout=60) as client:
        times = []
        for text in texts:
            start_time = time.perf_counter()
            client.post("/v1/embeddings", json={"input": text, "model": "b"}).raise_for_status()
            times.append(time.perf_counter() - start_time)
    return float(np.median(times[2:])) * 1e3  # the first two warm the connection


def serve_and_measure(
    artifact: Path, device: str, log_path: Path, seconds: float, *, texts: int = 64
) -> ServedResult:
    """`texts` distinct 500-token inputs (4x as many 5-token ones) per burst, repeated to fill
    about `seconds`."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(artifact / "model" / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    name, burst = burst_client()
    process, url = start(artifact, device, log_path)
    try:
        long_texts = make_texts(tokenizer, texts, LONG, seed=1)
        short_texts = make_texts(tokenizer, 4 * texts, SHORT, seed=2)
        burst(url, long_texts[:CONCURRENCY])  # warm-up: connections, allocator
        long_n = sized(burst, url, long_texts, seconds)
        short_n = sized(burst, url, short_texts, seconds)
        long_s = burst(url, long_texts * long_n)
        short_s = burst(url, short_texts * short_n)
        return ServedResult(
            client=name,
            long_tokens_per_s=len(long_texts) * long_n * LONG / long_s,
            short_requests_per_s=len(short_texts) * short_n / short_s,
            long_p50_ms=latency_p50_ms(url, long_texts[: min(22, texts)]),
            short_p50_ms=latency_p50_ms(url, short_texts[:52]),
            requests=len(long_texts) * (long_n + 2) + len(short_texts) * (short_n + 1) + 74,
        )
    finally:
        stop(process)


def sized(burst: Any, url: str, texts: list[str], seconds: float) -> int:
    """How many repeats of `texts` fill about `seconds` (from one timed pass, at least 1)."""
    elapsed = burst(url, texts)
    return max(1, min(20, round(seconds / max(elapsed, 1e-3))))
