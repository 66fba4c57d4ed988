from __future__ import annotations

import json
from pathlib import Path

import pytest

from bei_cli.checkpoint import SecretLookup, fetch_checkpoint
from bei_cli.errors import CheckpointError, UnsupportedModelError
from tests.fixtures.models import minilm_dir
from tests.unit.checkpoint.conftest import Repo, copy_minilm, make_pickle_only

NO_SECRETS = SecretLookup(environ={}, secrets_dir=None)


def fetch_local(path: Path | str, **kwargs: bool) -> Path:
    return fetch_checkpoint(Repo("LOCAL", str(path)), secrets=NO_SECRETS, **kwargs)


def test_local_minilm_is_returned_resolved() -> None:
    assert fetch_local(minilm_dir()) == minilm_dir().resolve()


def test_relative_local_path_is_taken_from_the_working_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_minilm(tmp_path / "model")
    monkeypatch.chdir(tmp_path)
    assert fetch_local("model") == (tmp_path / "model").resolve()


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist") as err:
        fetch_local(tmp_path / "nope")
    assert err.value.param == "trt_llm.build.checkpoint_repository.repo"
    assert err.value.exit_code == 3


def test_a_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is a file, not a directory"):
        fetch_local(tmp_path / "model.safetensors")


def test_pickle_only_is_refused_with_a_hint(tmp_path: Path) -> None:
    model = make_pickle_only(tmp_path / "m")
    with pytest.raises(UnsupportedModelError, match="only pickle weights") as err:
        fetch_local(model)
    assert err.value.hint is not None
    assert "--allow-pickle" in err.value.hint
    assert "safetensors" in err.value.hint


def test_pickle_only_is_accepted_when_allowed(tmp_path: Path) -> None:
    model = make_pickle_only(tmp_path / "m")
    assert fetch_local(model, allow_pickle=True) == model.resolve()


def test_pickle_dense_module_is_refused(tmp_path: Path) -> None:
    model = copy_minilm(tmp_path / "m")
    modules = json.loads((model / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "x.Dense"})
    (model / "modules.json").write_text(json.dumps(modules))
    (model / "2_Dense").mkdir()
    (model / "2_Dense" / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(UnsupportedModelError, match="2_Dense has only pickle weights"):
        fetch_local(model)
    (model / "2_Dense" / "model.safetensors").write_bytes(b"")
    assert fetch_local(model) == model.resolve()


def test_missing_fast_tokenizer_hints_how_to_create_it(tmp_path: Path) -> None:
    model = copy_minilm(tmp_path / "m")
    (model / "tokenizer.json").unlink()
    with pytest.raises(UnsupportedModelError, match="fast") as err:
        fetch_local(model)
    assert err.value.hint is not None
    assert "save_pretrained" in err.value.hint


def test_missing_config(tmp_path: Path) -> None:
    model = copy_minilm(tmp_path / "m")
    (model / "config.json").unlink()
    with pytest.raises(UnsupportedModelError, match=r"no config\.json"):
        fetch_local(model)


def test_no_weights_at_all(tmp_path: Path) -> None:
    model = copy_minilm(tmp_path / "m")
    (model / "model.safetensors").unlink()
    with pytest.raises(UnsupportedModelError, match="has no weights"):
        fetch_local(model, allow_pickle=True)


def test_sharded_safetensors_count_as_weights(tmp_path: Path) -> None:
    model = copy_minilm(tmp_path / "m")
    (model / "model.safetensors").rename(model / "model-00001-of-00001.safetensors")
    assert fetch_local(model) == model.resolve()
