"""Downloads through the real huggingface_hub from the stand-in Hub: only what a build needs."""

from __future__ import annotations

import json
from pathlib import Path

import huggingface_hub.constants
import pytest

from bei_cli.checkpoint import SecretLookup, fetch_checkpoint
from bei_cli.errors import UnsupportedModelError
from tests.fixtures.object_stores import MINILM_BUILD_FILES
from tests.unit.checkpoint.conftest import Repo, copy_minilm, make_pickle_only
from tests.unit.checkpoint.hub_server import HubState, commit_of

NO_SECRETS = SecretLookup(environ={}, secrets_dir=None)
BUILD_FILES = set(MINILM_BUILD_FILES)


def add_file(root: Path, name: str, data: bytes = b"x") -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(data)


@pytest.fixture
def full_repo(tmp_path: Path) -> Path:
    """MiniLM plus what real repos carry and a build does not need."""
    repo = copy_minilm(tmp_path / "repo")
    for name in (
        "pytorch_model.bin",
        "onnx/model.onnx",
        "onnx/config.json",
        "openvino/openvino_model.xml",
        "tf_model.h5",
        "rust_model.ot",
        "flax_model.msgpack",
    ):
        add_file(repo, name)
    return repo


def test_only_build_files_are_downloaded(hub: HubState, full_repo: Path, tmp_path: Path) -> None:
    hub.repos["org/minilm"] = full_repo
    path = fetch_checkpoint(
        Repo("HF", "org/minilm"), secrets=NO_SECRETS, cache_dir=tmp_path / "c", progress=False
    )
    assert hub.downloaded("org/minilm") == BUILD_FILES
    assert path.name == commit_of(full_repo)
    assert (path / "model.safetensors").read_bytes() == (
        full_repo / "model.safetensors"
    ).read_bytes()


def test_a_warm_cache_then_works_offline(
    hub: HubState, full_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.repos["org/minilm"] = full_repo
    online = fetch_checkpoint(
        Repo("HF", "org/minilm", "main"), secrets=NO_SECRETS, cache_dir=tmp_path
    )
    hub.repos.clear()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    offline = fetch_checkpoint(
        Repo("HF", "org/minilm", "main"), secrets=NO_SECRETS, cache_dir=tmp_path
    )
    assert offline == online


def test_pickle_is_not_even_downloaded_unless_allowed(hub: HubState, tmp_path: Path) -> None:
    repo = make_pickle_only(tmp_path / "repo")
    add_file(repo, "onnx/model.onnx")
    hub.repos["org/pickled"] = repo
    with pytest.raises(UnsupportedModelError, match="no safetensors weights in the repo root"):
        fetch_checkpoint(Repo("HF", "org/pickled"), secrets=NO_SECRETS, cache_dir=tmp_path / "c")
    assert "pytorch_model.bin" not in hub.downloaded("org/pickled")
    path = fetch_checkpoint(
        Repo("HF", "org/pickled"), secrets=NO_SECRETS, cache_dir=tmp_path / "c", allow_pickle=True
    )
    assert (path / "pytorch_model.bin").is_file()
    assert hub.downloaded("org/pickled") == BUILD_FILES - {"model.safetensors"} | {
        "pytorch_model.bin"
    }


def test_dense_weights_come_along(hub: HubState, tmp_path: Path) -> None:
    repo = copy_minilm(tmp_path / "repo")
    modules = json.loads((repo / "modules.json").read_text())
    modules.append({"idx": 2, "name": "2", "path": "2_Dense", "type": "x.Dense"})
    (repo / "modules.json").write_text(json.dumps(modules))
    add_file(repo, "2_Dense/config.json", b"{}")
    add_file(repo, "2_Dense/model.safetensors")
    add_file(repo, "2_Dense/pytorch_model.bin")
    hub.repos["org/dense"] = repo
    fetch_checkpoint(Repo("HF", "org/dense"), secrets=NO_SECRETS, cache_dir=tmp_path / "c")
    downloaded = hub.downloaded("org/dense")
    assert {"2_Dense/config.json", "2_Dense/model.safetensors"} <= downloaded
    assert "2_Dense/pytorch_model.bin" not in downloaded
