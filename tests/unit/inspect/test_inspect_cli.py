"""`bei inspect CONFIG|DIR` in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bei_cli.inspect import ModelProfile
from tests.fixtures.hf_cache import seed_hf_cache
from tests.fixtures.models import minilm_dir
from tests.unit.inspect.checkpoint_files import write_checkpoint

CONFIG = """
model_name: minilm
resources: {accelerator: L4, use_gpu: true}
trt_llm:
  build:
    base_model: encoder_bert
    checkpoint_repository: {source: HF, repo: sentence-transformers/all-MiniLM-L6-v2}
"""
QWEN3 = {
    "architectures": ["Qwen3Model"],
    "model_type": "qwen3",
    "hidden_size": 64,
    "max_position_embeddings": 32768,
}


def bei(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "bei_cli", "inspect", *args], env=env, capture_output=True, text=True
    )


def test_inspect_config_fetches_then_prints_a_table(tmp_path: Path) -> None:
    seed_hf_cache(minilm_dir(), "sentence-transformers/all-MiniLM-L6-v2", cache_dir=tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    result = bei(str(config), "--quiet", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[-1] for line in result.stdout.splitlines()[1:]}
    assert rows["pooling"] == "mean"
    assert rows["normalize"] == "True"
    assert "base_model encoder_bert" in result.stdout.splitlines()[0]


def test_inspect_dir_as_json(tmp_path: Path) -> None:
    result = bei(str(minilm_dir()), "--json", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    profile = ModelProfile.from_dict(json.loads(result.stdout))
    assert (profile.architecture, profile.pooling, profile.max_seq_len) == (
        "BertModel",
        "mean",
        256,
    )


def test_inspect_dir_base_model_and_fallbacks(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, {"config.json": QWEN3})
    default = json.loads(bei(str(tmp_path), "--json", cache=tmp_path).stdout)
    assert default["attention"] == "bidirectional"  # a directory defaults to encoder_bert
    table = bei(str(tmp_path), "--base-model", "encoder", cache=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "causal, padding left" in table.stdout
    assert "assumed lasttoken pooling" in table.stdout


def test_inspect_unsupported_model_exits_4(tmp_path: Path) -> None:
    write_checkpoint(tmp_path, {"config.json": {**QWEN3, "model_type": "t5"}})
    result = bei(str(tmp_path), cache=tmp_path)
    assert result.returncode == 4
    assert "unsupported architecture" in result.stderr
