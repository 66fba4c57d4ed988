"""HF through the real huggingface_hub against a seeded cache, offline (no mocks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bei_cli.checkpoint import SecretLookup, fetch_checkpoint
from bei_cli.errors import BeiError, CheckpointError, UnsupportedModelError
from tests.fixtures.hf_cache import SeededRepo, seed_hf_cache
from tests.unit.checkpoint.conftest import MINILM_REPO, TOKEN, Repo, make_pickle_only

NO_SECRETS = SecretLookup(environ={}, secrets_dir=None)
WITH_TOKEN = SecretLookup(environ={"HF_ACCESS_TOKEN": TOKEN}, secrets_dir=None)


def error_text(error: BeiError) -> str:
    return "\n".join([error.message, error.hint or "", *error.details, repr(error)])


@pytest.mark.parametrize("revision", [None, "main"])
def test_offline_branch_resolves_the_seeded_snapshot(
    hub_offline: Path, seeded_minilm: SeededRepo, revision: str | None
) -> None:
    path = fetch_checkpoint(Repo("HF", MINILM_REPO, revision), secrets=NO_SECRETS)
    assert path == seeded_minilm.snapshot
    assert (path / "model.safetensors").is_file()
    assert (path / "1_Pooling" / "config.json").is_file()


def test_offline_commit_hash_revision(hub_offline: Path, seeded_minilm: SeededRepo) -> None:
    path = fetch_checkpoint(
        Repo("HF", MINILM_REPO, seeded_minilm.commit), secrets=WITH_TOKEN, progress=False
    )
    assert path.name == seeded_minilm.commit
    assert path.parent.parent.name == "models--sentence-transformers--all-MiniLM-L6-v2"


def test_explicit_cache_dir_and_offline_flag_need_no_environment(
    tmp_path: Path, seeded_minilm: SeededRepo, hub_cache: Path
) -> None:
    path = fetch_checkpoint(
        Repo("HF", MINILM_REPO), secrets=NO_SECRETS, cache_dir=hub_cache, offline=True
    )
    assert path == seeded_minilm.snapshot


def test_missing_repo_offline_is_a_checkpoint_error_with_a_hint(hub_offline: Path) -> None:
    with pytest.raises(CheckpointError) as err:
        fetch_checkpoint(Repo("HF", "nobody/not-cached"), secrets=WITH_TOKEN)
    error = err.value
    assert "nobody/not-cached@main" in error.message
    assert str(hub_offline) in error.message
    assert "offline" in error.message
    assert error.hint is not None
    assert "HF_HUB_OFFLINE" in error.hint
    assert error.exit_code == 3
    assert TOKEN not in error_text(error)


def test_unknown_revision_offline(hub_offline: Path, seeded_minilm: SeededRepo) -> None:
    with pytest.raises(CheckpointError, match="v9-does-not-exist"):
        fetch_checkpoint(Repo("HF", MINILM_REPO, "v9-does-not-exist"), secrets=NO_SECRETS)


def test_missing_repo_without_offline_mode_in_a_fresh_cache(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not \\(completely\\) in the Hugging Face cache"):
        fetch_checkpoint(
            Repo("HF", "nobody/not-cached"), secrets=NO_SECRETS, cache_dir=tmp_path, offline=True
        )


def test_pickle_only_hub_repo_is_refused_then_allowed(hub_offline: Path, tmp_path: Path) -> None:
    seeded = seed_hf_cache(make_pickle_only(tmp_path / "m"), "org/pickled", cache_dir=hub_offline)
    with pytest.raises(UnsupportedModelError, match="no safetensors weights") as err:
        fetch_checkpoint(Repo("HF", "org/pickled"), secrets=NO_SECRETS)
    assert err.value.hint is not None
    assert "--allow-pickle" in err.value.hint
    path = fetch_checkpoint(Repo("HF", "org/pickled"), secrets=NO_SECRETS, allow_pickle=True)
    assert path == seeded.snapshot


def test_hub_repo_without_fast_tokenizer_is_refused(hub_offline: Path, tmp_path: Path) -> None:
    model = make_pickle_only(tmp_path / "m")
    (model / "pytorch_model.bin").rename(model / "model.safetensors")
    (model / "tokenizer.json").unlink()
    seed_hf_cache(model, "org/slow-tokenizer", cache_dir=hub_offline)
    with pytest.raises(UnsupportedModelError, match="fast"):
        fetch_checkpoint(Repo("HF", "org/slow-tokenizer"), secrets=NO_SECRETS)
