"""Engine artifacts: build -> load round trip, determinism, integrity, atomic replacement."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bei_cli.engine.artifact import load_engine, read_manifest, write_manifest
from bei_cli.engine.base import Engine
from bei_cli.engine.build import ArtifactSpec, build_artifact
from bei_cli.engine.fake import FakeEngine, fake_embedding
from bei_cli.engine.limits import Limits
from bei_cli.engine.manifest import Manifest
from bei_cli.engine.torch_engine import load_torch_engine
from bei_cli.errors import (
    ArtifactError,
    BuildError,
    UnsupportedHardwareError,
    UnsupportedModelError,
)
from bei_cli.inspect.profile import ModelProfile
from tests.fixtures.models import minilm_dir
from tests.unit.engine.helpers import PARITY_TEXTS, TinyFactory, tokenize

Checkpoint = tuple[Path, ModelProfile]

LIMITS = Limits(
    max_num_tokens=4096,
    max_batch_size=16,
    max_seq_len=128,
    max_client_batch_size=8,
    max_concurrent_requests=64,
    auto_truncate=True,
)
SPEC = ArtifactSpec(
    engine="torch",
    dtype="float32",
    quantization="no_quant",
    limits=LIMITS,
    default_route="/v1/embeddings",
    served_model_name="tiny",
    source={"source": "HF", "repo": "org/tiny", "revision": "main"},
)


def build(model_dir: Path, profile: ModelProfile, out_dir: Path, **spec: Any) -> Manifest:
    lines: list[str] = []
    manifest = build_artifact(
        model_dir, profile, out_dir, spec=replace(SPEC, **spec), progress=lines.append
    )
    assert any("smoke test" in line for line in lines)
    return manifest


def embed(engine: Engine, model_dir: Path) -> np.ndarray:
    output = engine.run(tokenize(model_dir, PARITY_TEXTS, 128))
    return output.embeddings


@pytest.fixture
def dense_checkpoint(tiny_checkpoint: TinyFactory) -> Checkpoint:
    return tiny_checkpoint("mean", dense_out=16)


def test_round_trip_gives_the_same_outputs(dense_checkpoint: Checkpoint, tmp_path: Path) -> None:
    model_dir, profile = dense_checkpoint
    built = build(model_dir, profile, tmp_path / "art")
    engine, manifest = load_engine(tmp_path / "art")
    assert manifest == built and manifest.profile == profile
    assert engine.info.max_batch_tokens == 4096 and engine.info.max_batch_size == 16
    assert engine.info.embedding_dim == 16
    expected = embed(load_torch_engine(model_dir, profile), model_dir)
    np.testing.assert_array_equal(embed(engine, tmp_path / "art" / "model"), expected)
    listed = {f.path for f in manifest.files}
    assert {"model/config.json", "model/tokenizer.json", "model/model.safetensors"} <= listed
    assert {"model/2_Dense/model.safetensors", "model/1_Pooling/config.json"} <= listed
    assert not any(p.endswith("README.md") for p in listed)
    on_disk = {
        p.relative_to(tmp_path / "art").as_posix()
        for p in (tmp_path / "art").rglob("*")
        if p.is_file()
    }
    assert on_disk == listed | {"manifest.json"}


def test_same_inputs_give_identical_manifests(dense_checkpoint: Checkpoint, tmp_path: Path) -> None:
    model_dir, profile = dense_checkpoint
    build(model_dir, profile, tmp_path / "one")
    build(model_dir, profile, tmp_path / "two")
    assert (tmp_path / "one/manifest.json").read_bytes() == (
        tmp_path / "two/manifest.json"
    ).read_bytes()


def test_tampered_file_is_refused(dense_checkpoint: Checkpoint, tmp_path: Path) -> None:
    model_dir, profile = dense_checkpoint
    build(model_dir, profile, tmp_path / "art")
    weights = tmp_path / "art/model/2_Dense/model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        load_engine(tmp_path / "art")
    load_engine(tmp_path / "art", verify=False)  # same size: only the hash pass can see it
    weights.write_bytes(bytes(data[:-1]))
    with pytest.raises(ArtifactError, match="size"):
        load_engine(tmp_path / "art", verify=False)
    weights.unlink()
    with pytest.raises(ArtifactError, match="missing"):
        load_engine(tmp_path / "art", verify=False)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"manifest\.json is missing") as err:
        load_engine(tmp_path)
    assert err.value.exit_code == 5 and err.value.hint


def test_unknown_engine_in_manifest(dense_checkpoint: Checkpoint, tmp_path: Path) -> None:
    model_dir, profile = dense_checkpoint
    manifest = build(model_dir, profile, tmp_path / "art")
    write_manifest(tmp_path / "art", replace(manifest, engine="tensorrt"))
    with pytest.raises(ArtifactError, match="tensorrt"):
        load_engine(tmp_path / "art")


def test_refuses_to_overwrite_other_directories(
    dense_checkpoint: Checkpoint, tmp_path: Path
) -> None:
    model_dir, profile = dense_checkpoint
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    with pytest.raises(BuildError, match="refusing to overwrite"):
        build(model_dir, profile, precious)
    assert (precious / "thesis.txt").read_text() == "do not delete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious"]  # no staging left behind
    (tmp_path / "empty").mkdir()
    build(model_dir, profile, tmp_path / "empty")
    assert read_manifest(tmp_path / "empty").engine == "torch"


def test_replaces_an_earlier_artifact(tiny_checkpoint: TinyFactory, tmp_path: Path) -> None:
    dense_dir, dense_profile = tiny_checkpoint("mean", dense_out=16)
    build(dense_dir, dense_profile, tmp_path / "art")
    plain_dir, plain_profile = tiny_checkpoint("cls")
    build(plain_dir, plain_profile, tmp_path / "art", served_model_name="second")
    assert read_manifest(tmp_path / "art").served_model_name == "second"
    assert not (tmp_path / "art/model/2_Dense").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]


def test_failed_smoke_test_leaves_nothing(dense_checkpoint: Checkpoint, tmp_path: Path) -> None:
    model_dir, profile = dense_checkpoint
    with pytest.raises(UnsupportedHardwareError, match="int3"):
        build(model_dir, profile, tmp_path / "art", dtype="int3")
    broken = replace(profile, dense=(replace(profile.dense[0], in_features=999),))
    with pytest.raises(UnsupportedModelError, match="2_Dense"):
        build(model_dir, broken, tmp_path / "art")
    with pytest.raises(BuildError, match="unknown engine"):
        build(model_dir, profile, tmp_path / "art", engine="onnx-someday")
    assert list(tmp_path.iterdir()) == []


def test_torch_pickles_become_safetensors(dense_checkpoint: Checkpoint, tmp_path: Path) -> None:
    source, profile = dense_checkpoint
    model_dir = tmp_path / "pickled"
    shutil.copytree(source, model_dir)
    for folder in (model_dir, model_dir / "2_Dense"):
        torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
        (folder / "model.safetensors").unlink()
    manifest = build(model_dir, profile, tmp_path / "art")
    paths = {f.path for f in manifest.files}
    assert {"model/model.safetensors", "model/2_Dense/model.safetensors"} <= paths
    assert not any(p.endswith(".bin") for p in paths)
    engine, _ = load_engine(tmp_path / "art")
    expected = embed(load_torch_engine(source, profile), source)
    np.testing.assert_allclose(embed(engine, tmp_path / "art/model"), expected, atol=1e-6)


def test_sharded_torch_pickles_become_sharded_safetensors(
    dense_checkpoint: Checkpoint, tmp_path: Path
) -> None:
    source, profile = dense_checkpoint
    model_dir = tmp_path / "sharded"
    shutil.copytree(source, model_dir)
    state = load_file(model_dir / "model.safetensors")
    (model_dir / "model.safetensors").unlink()
    names = sorted(state)
    halves = {
        "pytorch_model-00001-of-00002.bin": names[::2],
        "pytorch_model-00002-of-00002.bin": names[1::2],
    }
    for shard, keys in halves.items():
        torch.save({k: state[k] for k in keys}, model_dir / shard)
    weight_map = {k: shard for shard, keys in halves.items() for k in keys}
    (model_dir / "pytorch_model.bin.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    build(model_dir, profile, tmp_path / "art")
    index = json.loads((tmp_path / "art/model/model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == {
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    }
    engine, _ = load_engine(tmp_path / "art")
    expected = embed(load_torch_engine(source, profile), source)
    np.testing.assert_allclose(embed(engine, tmp_path / "art/model"), expected, atol=1e-6)


def test_slow_tokenizer_gets_a_tokenizer_json(tiny_checkpoint: TinyFactory, tmp_path: Path) -> None:
    source, profile = tiny_checkpoint("mean")
    model_dir = tmp_path / "slow"
    shutil.copytree(source, model_dir)
    (model_dir / "tokenizer.json").unlink()
    shutil.copy(minilm_dir() / "vocab.txt", model_dir / "vocab.txt")
    build(model_dir, profile, tmp_path / "art")
    from tokenizers import Tokenizer

    converted = Tokenizer.from_file(str(tmp_path / "art/model/tokenizer.json"))
    original = Tokenizer.from_file(str(source / "tokenizer.json"))
    original.no_padding()  # sentence-transformers saved it padding and truncating to 128
    original.no_truncation()
    for text in PARITY_TEXTS:
        assert converted.encode(text).ids == original.encode(text).ids


def test_fake_engine_artifact(dense_checkpoint: Checkpoint, tmp_path: Path) -> None:
    model_dir, profile = dense_checkpoint
    build(model_dir, profile, tmp_path / "art", engine="fake")
    engine, manifest = load_engine(tmp_path / "art")
    assert isinstance(engine, FakeEngine) and manifest.engine == "fake"
    assert engine.info.embedding_dim == 16 and engine.info.max_seq_len == 128
    batch = tokenize(model_dir, PARITY_TEXTS[:3], 128)
    output = engine.run(batch).embeddings
    assert output is not None
    np.testing.assert_array_equal(output[1], fake_embedding(batch.sequence(1), 16))


def test_manifest_never_holds_credentials(dense_checkpoint: Checkpoint, tmp_path: Path) -> None:
    model_dir, profile = dense_checkpoint
    source = {
        "source": "REMOTE_URL",
        "repo": "https://user:hunter2@example.com/models/tiny.tar?X-Amz-Signature=s3cr3t",
        "revision": None,
        "api_key": "leaked",
    }
    build(model_dir, profile, tmp_path / "art", source=source)
    text = (tmp_path / "art/manifest.json").read_text()
    assert "hunter2" not in text and "s3cr3t" not in text and "leaked" not in text
    assert read_manifest(tmp_path / "art").source.repo == "https://example.com/models/tiny.tar"
