"""`bei serve` of the real MiniLM through the engine process (the default): vectors equal to
sentence-transformers, the engine in a process of its own, and SIGTERM stopping both."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import ServerProcess, bei, build_artifact
from tests.integration.test_minilm_http import FP32_COSINE, embed_http
from tests.integration.texts import varied_texts
from tests.unit.engine.helpers import cosines

pytestmark = pytest.mark.integration


def children_of(pid: int) -> list[int]:
    """The child pids of `pid` (Linux procfs)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def engine_pid_of(server: ServerProcess) -> int:
    engines = [
        pid
        for pid in children_of(server.process.pid)
        if b"bei_cli.runtime.engine_server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(engines) == 1, engines
    return engines[0]


@pytest.fixture(scope="module")
def cpu_artifact(tmp_path_factory: pytest.TempPathFactory, hub_env: dict[str, str]) -> Path:
    # fp32 pinned: the parity below is the fp32 tolerance on any CPU
    return build_artifact(tmp_path_factory, hub_env, "bei:\n  dtype: float32\n", "--target", "cpu")


@pytest.fixture(scope="module")
def server(cpu_artifact: Path, hub_env: dict[str, str]) -> Iterator[ServerProcess]:
    process = ServerProcess(cpu_artifact, hub_env)
    yield process
    process.stop()


def test_vectors_equal_sentence_transformers_through_the_engine_process(
    server: ServerProcess,
    reference_model,  # type: ignore[no-untyped-def]
) -> None:
    assert running(engine_pid_of(server))
    texts = varied_texts(96)
    reference = reference_model.encode(texts, batch_size=32, normalize_embeddings=True)
    got = embed_http(server.url, texts, chunk=24)
    cos = cosines(got, reference)
    assert cos.min() >= FP32_COSINE, f"worst cosine {cos.min():.7f}"
    metrics = httpx.get(f"{server.url}/metrics").text
    # the engine's batch statistics travel back to the front-end's metrics
    assert "bei_batch_size_count" in metrics
    count = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("bei_batch_size_count")
    )
    assert count >= 1


def test_sigterm_stops_the_front_end_and_the_engine_process(
    cpu_artifact: Path, hub_env: dict[str, str]
) -> None:
    server = ServerProcess(cpu_artifact, hub_env)
    try:
        engine_pid = engine_pid_of(server)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(60) == 0
        deadline = time.monotonic() + 10
        while running(engine_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(engine_pid)
        log = server.log.read_text()
        assert "Traceback" not in log, log[-3000:]
    finally:
        server.stop()


def test_an_engine_killed_while_serving_stops_the_server_with_a_clear_error(
    cpu_artifact: Path, hub_env: dict[str, str]
) -> None:
    """The OOM killer's SIGKILL: the request in flight gets an error answer (not a hang, not a
    reset), then `bei serve` exits non-zero, saying what happened, so a supervisor restarts
    it -- not a replica that answers 503 for ever."""
    server = ServerProcess(cpu_artifact, hub_env)
    try:
        engine_pid = engine_pid_of(server)
        answers: list[httpx.Response] = []
        body = {"input": varied_texts(1024, seed=5), "model": "minilm"}

        def in_flight() -> None:
            answers.append(httpx.post(f"{server.url}/v1/embeddings", json=body, timeout=60))

        request = threading.Thread(target=in_flight)
        request.start()
        time.sleep(0.5)
        os.kill(engine_pid, signal.SIGKILL)
        request.join(60)
        assert server.process.wait(30) == 1
        assert len(answers) == 1 and answers[0].status_code in (500, 503), answers
        assert "error" in answers[0].json()
        log = server.log.read_text()
        assert "engine process was killed by signal 9 SIGKILL" in log, log[-3000:]
        assert "out-of-memory" in log and "Traceback" not in log, log[-3000:]
    finally:
        server.stop()


def test_a_damaged_artifact_is_a_clear_error_not_a_hang(
    cpu_artifact: Path, hub_env: dict[str, str], tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged"
    shutil.copytree(cpu_artifact, damaged)
    (damaged / "model" / "config.json").write_text("{}")
    result = bei("serve", str(damaged), "--port", "0", env=hub_env, timeout=120)
    assert result.returncode == 5, result.stderr  # ArtifactError, as without the engine process
    assert "config.json" in result.stderr and "Traceback" not in result.stderr
