"""`bei fetch` with source REMOTE_URL in a fresh process: the directory on stdout, or the error
rendered once with its exit code (3 network/auth, 4 malicious archive) and no secret in it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.archives import all_files_of, build_files_of, make_checkpoint, malicious_tar
from tests.fixtures.http_store import HttpStore, serve_directory

CONFIG = """
model_name: remote
resources: {accelerator: L4, use_gpu: true}
trt_llm:
  build:
    base_model: encoder_bert
    checkpoint_repository:
      source: REMOTE_URL
      repo: {repo}
      runtime_secret_name: model_token
"""
TOKEN = "tok-NeVeRsHoWn-42"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HttpStore]:
    site = tmp_path / "site"
    make_checkpoint(site / "model")
    malicious_tar(site / "evil.tar.gz", "dotdot")
    with serve_directory(site) as served:
        yield served


def bei_fetch(tmp_path: Path, repo: str, **env: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.replace("{repo}", repo))
    environ = {**os.environ, "BEI_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "200", **env}
    return subprocess.run(
        [sys.executable, "-m", "bei_cli", "fetch", str(config), "--secrets-dir", str(tmp_path)],
        env=environ,
        capture_output=True,
        text=True,
    )


def test_fetch_prints_the_cached_checkpoint(store: HttpStore, tmp_path: Path) -> None:
    result = bei_fetch(tmp_path, store.url + "/model/", MODEL_TOKEN=TOKEN)
    assert result.returncode == 0, result.stderr
    folder = Path(result.stdout.strip())
    assert folder.is_relative_to(tmp_path / "cache")  # BEI_CACHE_DIR is the cache root
    assert all_files_of(folder) == build_files_of(store.root / "model")
    assert TOKEN not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("path", "code", "words"),
    [
        ("/evil.tar.gz", 4, "'..' component"),
        ("/missing/model.tar.gz", 3, "not found"),
    ],
)
def test_failures_exit_with_their_code_and_a_hint(
    store: HttpStore, tmp_path: Path, path: str, code: int, words: str
) -> None:
    result = bei_fetch(tmp_path, store.url + path, MODEL_TOKEN=TOKEN)
    assert result.returncode == code, result.stderr
    assert words in result.stderr
    assert "hint" in result.stderr
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stderr


def test_denied_is_exit_3_naming_the_secret(store: HttpStore, tmp_path: Path) -> None:
    store.faults.token = "the-right-one"
    result = bei_fetch(tmp_path, store.url + "/model/", MODEL_TOKEN=TOKEN)
    assert result.returncode == 3
    assert "HTTP 403" in result.stderr
    assert "runtime_secret_name" in result.stderr
    assert TOKEN not in result.stderr
