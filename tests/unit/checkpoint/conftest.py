from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub.constants
import pytest

from tests.fixtures.hf_cache import SeededRepo, seed_hf_cache
from tests.fixtures.models import minilm_dir
from tests.unit.checkpoint.hub_server import HubState, stand_in_hub

MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"
TOKEN = "hf_tEsTsEcReTtOkEn0123456789abcdef"


@dataclass(frozen=True)
class Repo:
    """A RepoSpec as the validated config hands it over."""

    source: str
    repo: str
    revision: str | None = None
    runtime_secret_name: str = "hf_access_token"


@pytest.fixture(scope="session")
def hub_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hub")


@pytest.fixture(scope="session")
def seeded_minilm(hub_cache: Path) -> SeededRepo:
    return seed_hf_cache(minilm_dir(), MINILM_REPO, cache_dir=hub_cache)


@pytest.fixture
def hub_offline(monkeypatch: pytest.MonkeyPatch, hub_cache: Path) -> Iterator[Path]:
    """HF_HUB_OFFLINE=1 and HF_HUB_CACHE=<tmp>, also in the hub's constants, which it reads once
    at import (a fresh process gets them from the environment; see test_seed_script)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache))
    yield hub_cache


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubState]:
    """The stand-in Hub on 127.0.0.1 as the hub client's endpoint (online mode)."""
    state = HubState()
    with stand_in_hub(state) as endpoint:
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
        monkeypatch.setattr(
            huggingface_hub.constants,
            "HUGGINGFACE_CO_URL_TEMPLATE",
            endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        )
        yield state


def copy_minilm(target: Path) -> Path:
    shutil.copytree(minilm_dir(), target)
    return target


def make_pickle_only(target: Path) -> Path:
    """MiniLM's metadata with a (stand-in) pytorch_model.bin instead of safetensors: the
    refusal is decided by file names, before anything is unpickled."""
    copy_minilm(target)
    (target / "model.safetensors").unlink()
    (target / "pytorch_model.bin").write_bytes(b"not really a pickle")
    return target
