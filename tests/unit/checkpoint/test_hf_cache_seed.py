"""scripts/seed_hf_cache.py writes the hub's own layout; a fresh process finds it offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures.hf_cache import repo_folder, seed_hf_cache
from tests.fixtures.models import minilm_dir
from tests.unit.checkpoint.conftest import copy_minilm

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "seed_hf_cache.py"


def snapshot_files(snapshot: Path) -> set[str]:
    return {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()}


def test_layout_matches_the_hub(tmp_path: Path) -> None:
    seeded = seed_hf_cache(
        minilm_dir(), "sentence-transformers/all-MiniLM-L6-v2", cache_dir=tmp_path
    )
    folder = repo_folder(tmp_path, "sentence-transformers/all-MiniLM-L6-v2")
    assert folder.name == "models--sentence-transformers--all-MiniLM-L6-v2"
    assert (folder / "refs" / "main").read_text() == seeded.commit
    assert len(seeded.commit) == 40
    link = seeded.snapshot / "1_Pooling" / "config.json"
    assert link.is_symlink()
    assert os.readlink(link).startswith("../../../blobs/")
    # the hub's etags: sha256 for LFS files, git blob sha1 for the rest (as on huggingface.co)
    weights = os.readlink(seeded.snapshot / "model.safetensors").rsplit("/", 1)[-1]
    config = os.readlink(seeded.snapshot / "config.json").rsplit("/", 1)[-1]
    assert (len(weights), len(config)) == (64, 40)
    assert snapshot_files(seeded.snapshot) == snapshot_files(minilm_dir())


def test_seeding_is_idempotent_and_changes_make_a_new_commit(tmp_path: Path) -> None:
    model = copy_minilm(tmp_path / "m")
    cache = tmp_path / "hub"
    first = seed_hf_cache(model, "org/m", cache_dir=cache)
    blobs = sorted(
        (p.name, p.stat().st_mtime_ns) for p in (first.snapshot / "../../blobs").iterdir()
    )
    again = seed_hf_cache(model, "org/m", cache_dir=cache)
    assert again == first
    assert (
        sorted((p.name, p.stat().st_mtime_ns) for p in (first.snapshot / "../../blobs").iterdir())
        == blobs
    )
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "hidden_dropout_prob": 0.0}))
    changed = seed_hf_cache(model, "org/m", cache_dir=cache)
    assert changed.commit != first.commit
    assert (repo_folder(cache, "org/m") / "refs" / "main").read_text() == changed.commit
    assert first.snapshot.is_dir()  # old snapshots stay, as with the hub


def test_script_then_real_hub_offline_in_a_fresh_process(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    for _ in range(2):  # idempotent
        seeded = subprocess.run(
            [sys.executable, str(SCRIPT), "--repo", "sentence-transformers/all-MiniLM-L6-v2"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert "seeded sentence-transformers/all-MiniLM-L6-v2@main" in seeded.stdout
    resolve = (
        "from huggingface_hub import snapshot_download;"
        "print(snapshot_download('sentence-transformers/all-MiniLM-L6-v2', revision='main'))"
    )
    found = subprocess.run(
        [sys.executable, "-c", resolve], env=env, capture_output=True, text=True, check=True
    )
    snapshot = Path(found.stdout.strip())
    assert snapshot.parent.parent == repo_folder(tmp_path, "sentence-transformers/all-MiniLM-L6-v2")
    assert (snapshot / "model.safetensors").read_bytes()[:8] == (
        minilm_dir() / "model.safetensors"
    ).read_bytes()[:8]
