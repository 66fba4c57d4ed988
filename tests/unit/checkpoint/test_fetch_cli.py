"""`bei fetch` in a fresh process: the hub reads HF_HUB_CACHE / HF_HUB_OFFLINE at import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures.hf_cache import SeededRepo
from tests.unit.checkpoint.conftest import MINILM_REPO, TOKEN, make_pickle_only

HF_CONFIG = """
model_name: minilm
resources: {accelerator: L4, use_gpu: true}
trt_llm:
  build:
    base_model: encoder_bert
    checkpoint_repository: {source: HF, repo: {repo}, revision: main}
"""
LOCAL_CONFIG = HF_CONFIG.replace("source: HF", "source: LOCAL").replace(", revision: main", "")


def bei(*args: str, cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "HF_HUB_CACHE": str(cache),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bei_cli", *args], env=environ, capture_output=True, text=True
    )


def write_config(tmp_path: Path, template: str, repo: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(template.replace("{repo}", repo))
    return path


def test_fetch_prints_the_cached_snapshot(
    tmp_path: Path, hub_cache: Path, seeded_minilm: SeededRepo
) -> None:
    result = bei("fetch", str(write_config(tmp_path, HF_CONFIG, MINILM_REPO)), cache=hub_cache)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(seeded_minilm.snapshot)
    assert f"fetching HF {MINILM_REPO}@main" in result.stderr


def test_fetch_not_cached_exits_3_with_a_hint_and_no_token(tmp_path: Path) -> None:
    config = write_config(tmp_path, HF_CONFIG, MINILM_REPO)
    result = bei("fetch", str(config), cache=tmp_path / "empty", HF_ACCESS_TOKEN=TOKEN)
    assert result.returncode == 3
    assert "not (completely) in the Hugging Face cache" in result.stderr
    assert "hint" in result.stderr
    assert TOKEN not in result.stderr + result.stdout


def test_fetch_local_pickle_only_exits_4_unless_allowed(tmp_path: Path) -> None:
    model = make_pickle_only(tmp_path / "model")
    config = write_config(tmp_path, LOCAL_CONFIG, str(model))
    refused = bei("fetch", str(config), "--quiet", cache=tmp_path)
    assert refused.returncode == 4
    assert "--allow-pickle" in refused.stderr
    allowed = bei("fetch", str(config), "--allow-pickle", cache=tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.strip() == str(model)
