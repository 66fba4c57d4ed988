"""Servers and in-process baselines for bench_serving.py: `bei serve` and Infinity as
subprocesses (own process group, stopped by their pid), the fake-engine artifact, the texts, the
same engine in-process, sentence-transformers in-process, and /metrics deltas."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

HEALTH_TIMEOUT_S = 180
ST_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    port: int
    path: str  # the embeddings route
    model: str  # the "model" field its requests carry

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own group, started by us
            self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(name: str, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early (exit {process.returncode}); see {log}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"{name} not healthy after {HEALTH_TIMEOUT_S} s; see {log}")


def spawn(name: str, command: list[str], env: dict[str, str], log: Path) -> tuple[Any, str, int]:
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in command]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(command)}\n".encode())
        out.flush()
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(name, process, url, log)
    return process, url, port


def offline_env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.update(DO_NOT_TRACK="1", INFINITY_ANONYMOUS_USAGE_STATS="0")
    return env


def serve_flags() -> str:
    """`bei serve --help`, to find which flags this checkout has (--workers is issue 11's)."""
    proc = subprocess.run(
        [sys.executable, "-m", "bei_cli", "serve", "--help"],
        capture_output=True,
        text=True,
        env=dict(os.environ, COLUMNS="200"),
    )
    return proc.stdout


def start_bei(
    artifact: Path,
    log: Path,
    workers: int | None = None,
    name: str = "bei",
    extra: Sequence[str] = (),
) -> Server:
    """`extra`: more `bei serve` flags (the throughput parts pass --throughput-flags)."""
    command = [sys.executable, "-m", "bei_cli", "serve", str(artifact), "--port", "{port}"]
    command += ["--log-level", "warning", *extra]
    if workers is not None:
        command += ["--workers", str(workers)]
    process, url, port = spawn(name, command, offline_env(), log)
    return Server(name, process, url, port, "/v1/embeddings", "bench")


def start_infinity(venv: Path, log: Path, batch_size: int | None) -> Server:
    command = [str(venv / "bin" / "infinity_emb"), "v2", "--model-id", ST_MODEL]
    command += ["--engine", "torch", "--device", "cpu", "--port", "{port}"]
    if batch_size:
        command += ["--batch-size", str(batch_size)]
    process, url, port = spawn("infinity", command, offline_env(), log)
    return Server("infinity", process, url, port, "/embeddings", ST_MODEL)


def write_fake_artifact(artifact: Path, target: Path) -> Path:
    """The MiniLM artifact's tokenizer and limits with `engine: fake` (no model compute), as
    tests/integration/fake_servers.py lays one out: what the HTTP path costs on its own."""
    from bei_cli.engine.artifact import MODEL_DIR, read_manifest, record_files, write_manifest

    if target.exists():
        shutil.rmtree(target)
    (target / MODEL_DIR).mkdir(parents=True)
    for path in (artifact / MODEL_DIR).iterdir():
        if path.is_file() and (path.name.startswith(("tokenizer", "special_tokens", "vocab"))):
            shutil.copy(path, target / MODEL_DIR / path.name)
    shutil.copy(artifact / MODEL_DIR / "config.json", target / MODEL_DIR / "config.json")
    manifest = replace(read_manifest(artifact), engine="fake", files=record_files(target))
    write_manifest(target, manifest)
    return target


def metric_sums(url: str) -> dict[str, float]:
    """The batch histograms' _sum/_count from /metrics (prometheus text format)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    wanted = ("bei_inference_duration_seconds", "bei_batch_size", "bei_batch_padded_tokens")
    out: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name.removesuffix("_sum").removesuffix("_count") in wanted and "{" not in name:
            out[name] = float(value)
    return out


def batch_stats(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    batches = delta("bei_inference_duration_seconds_count")
    if not batches:
        return {"batches": 0}
    return {
        "batches": batches,
        "mean_size": delta("bei_batch_size_sum") / batches,
        "mean_padded_tokens": delta("bei_batch_padded_tokens_sum") / batches,
        "mean_engine_ms": 1000 * delta("bei_inference_duration_seconds_sum") / batches,
    }


class InProcess:
    """The artifact's own engine on pre-tokenized batches (bench_engines.py's method), and
    sentence-transformers fp32 `encode` (its tokenization included, as a user sees it)."""

    def __init__(self, artifact: Path) -> None:
        from tokenizers import Tokenizer

        from bei_cli.engine.artifact import load_engine

        self.engine, self.manifest = load_engine(artifact, device="cpu", verify=False)
        self.tokenizer = Tokenizer.from_file(str(artifact / "model" / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.manifest.limits.max_seq_len)
        self.st: Any = None

    def batches(self, texts: list[str], size: int) -> list[Any]:
        from bei_cli.engine.base import Batch

        out = []
        for start in range(0, len(texts), size):
            enc = self.tokenizer.encode_batch(texts[start : start + size])
            out.append(Batch.from_sequences([e.ids for e in enc], [e.type_ids for e in enc]))
        return out

    def engine_inputs_per_s(self, texts: list[str], size: int, runs: int) -> float:
        work = self.batches(texts, size)
        seconds = timed(lambda: [self.engine.run(b) for b in work], runs)
        return len(texts) / seconds

    def engine_batch_ms(self, texts: list[str], size: int, runs: int) -> float:
        batch = self.batches(texts[:size], size)[0]
        return 1000 * timed(lambda: self.engine.run(batch), max(runs, 5))

    def st_inputs_per_s(self, texts: list[str], size: int, runs: int) -> float:
        if self.st is None:
            from sentence_transformers import SentenceTransformer

            self.st = SentenceTransformer(ST_MODEL, device="cpu")
        seconds = timed(lambda: self.st.encode(texts, batch_size=size), runs)
        return len(texts) / seconds


def timed(work: Any, runs: int) -> float:
    """Median seconds of `runs` calls after one warm-up."""
    work()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]
