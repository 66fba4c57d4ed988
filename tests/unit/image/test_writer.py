from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from bei_cli.engine.artifact import sha256_file
from bei_cli.errors import BuildError
from bei_cli.image.base import load_base
from bei_cli.image.build import build_image
from bei_cli.oci import REF_NAME, read_layout
from tests.fixtures.images import (
    FAKE_SECRET,
    SECRET_NAME,
    all_image_bytes,
    layer_file,
    layer_members,
    write_config,
    write_tiny_base,
)


def test_same_inputs_same_digest_one_byte_changes_it(
    artifact: Path, config_path: Path, base_ref: str
) -> None:
    first = build_image(artifact, config_path, base_ref)
    again = build_image(artifact, config_path, base_ref)
    assert first.manifest_digest == again.manifest_digest
    weights = artifact / "model" / "model.safetensors"
    weights.write_bytes(b"x" + weights.read_bytes()[1:])
    manifest = json.loads((artifact / "manifest.json").read_text())
    # keep the manifest truthful so the artifact stays valid; the bytes changed, not the size
    manifest["files"]["model/model.safetensors"]["sha256"] = sha256_file(weights)
    (artifact / "manifest.json").write_text(json.dumps(manifest, sort_keys=True, indent=2))
    changed = build_image(artifact, config_path, base_ref)
    assert changed.manifest_digest != first.manifest_digest
    dated = build_image(artifact, config_path, base_ref, source_date_epoch="1700000000")
    assert dated.manifest_digest != changed.manifest_digest


def test_layers_hold_runtime_artifact_and_config(
    artifact: Path, config_path: Path, base_ref: str
) -> None:
    result = build_image(artifact, config_path, base_ref)
    base, runtime, art, config = layer_members(result.layout_dir)
    assert "etc/os-release" in base
    assert "opt/bei/lib/bei_cli/errors.py" in runtime and "opt/bei/lib/bei_cli/py.typed" in runtime
    assert not [n for n in runtime if "__pycache__" in n or n.endswith(".pyc")]
    assert runtime["opt/bei/bin/bei"].mode == 0o755
    assert sorted(n for n, m in art.items() if m.isfile()) == [
        "opt/bei/artifact/manifest.json",
        "opt/bei/artifact/model/config.json",
        "opt/bei/artifact/model/model.safetensors",
    ]
    assert [n for n, m in config.items() if m.isfile()] == ["opt/bei/config.yaml"]
    for layer in (runtime, art, config):
        assert all(m.uid == 0 and m.gid == 0 and m.mtime == 0 for m in layer.values())
    assert (
        layer_file(result.layout_dir, "opt/bei/artifact/manifest.json")
        == (artifact / "manifest.json").read_bytes()
    )


def test_config_fields_labels_and_index(artifact: Path, config_path: Path, base_ref: str) -> None:
    result = build_image(artifact, config_path, base_ref, tag="v1")
    stored = read_layout(result.layout_dir, "v1")
    config = stored.config["config"]
    assert config["Entrypoint"] == ["/opt/bei/bin/bei", "serve", "/opt/bei/artifact"]
    assert config["Cmd"] == ["--host", "0.0.0.0", "--port", "8080"]
    assert config["User"] == "10001:10001" and config["ExposedPorts"] == {"8080/tcp": {}}
    assert "PYTHONPATH=/opt/bei/lib" in config["Env"]
    assert config["Healthcheck"]["Test"][0] == "CMD"
    labels = config["Labels"]
    engine_digest = hashlib.sha256((artifact / "manifest.json").read_bytes()).hexdigest()
    assert labels["io.bei.engine.digest"] == f"sha256:{engine_digest}"
    assert labels["io.bei.engine"] == "onnx" and labels["io.bei.model"] == "org/tiny"
    assert labels["org.opencontainers.image.version"] == "v1"
    assert labels["org.opencontainers.image.created"] == "1970-01-01T00:00:00Z"
    assert labels["io.bei.base.engines"] == "onnx,fake"
    assert labels["io.bei.device"] == "cpu" and "io.bei.accelerator" not in labels
    assert len(stored.config["rootfs"]["diff_ids"]) == 4 == len(stored.config["history"])
    index = json.loads((result.layout_dir / "index.json").read_text())
    assert index["manifests"][0]["annotations"][REF_NAME] == "v1"
    assert index["manifests"][0]["digest"] == result.manifest_digest


def test_base_without_the_engine_is_refused(
    artifact: Path, config_path: Path, tmp_path: Path
) -> None:
    torch_only = write_tiny_base(tmp_path / "torch-base", engines="torch")
    with pytest.raises(BuildError) as caught:
        build_image(artifact, config_path, torch_only)
    assert "not onnx" in caught.value.message and "cpu-slim" in (caught.value.hint or "")


def test_no_secret_value_in_any_layer_label_archive_or_context(
    artifact: Path, config_path: Path, base_ref: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_NAME.upper(), FAKE_SECRET)
    monkeypatch.setenv(SECRET_NAME, FAKE_SECRET)
    result = build_image(artifact, config_path, base_ref, formats=["oci", "docker-archive"])
    everything = all_image_bytes(result.layout_dir)
    assert FAKE_SECRET.encode() not in everything
    assert SECRET_NAME.encode() in everything  # the name is there (config), so the scan works
    assert result.archive is not None
    with tarfile.open(result.archive) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            assert handle is None or FAKE_SECRET.encode() not in handle.read()
    for path in artifact.rglob("*"):
        assert not path.is_file() or FAKE_SECRET.encode() not in path.read_bytes()


def test_secret_values_in_the_config_are_blanked(
    artifact: Path, tmp_path: Path, base_ref: str
) -> None:
    (tmp_path / "leaky").mkdir()
    leaky = write_config(tmp_path / "leaky")
    text = leaky.read_text().replace(f"{SECRET_NAME}: null", f"{SECRET_NAME}: {FAKE_SECRET}")
    leaky.write_text(text)
    result = build_image(artifact, leaky, base_ref)
    bundled = layer_file(result.layout_dir, "opt/bei/config.yaml")
    assert FAKE_SECRET.encode() not in all_image_bytes(result.layout_dir)
    assert f"{SECRET_NAME}: null".encode() in bundled


def test_docker_archive_round_trips_as_a_base(
    artifact: Path, config_path: Path, base_ref: str, tmp_path: Path
) -> None:
    result = build_image(artifact, config_path, base_ref, formats=["docker-archive"])
    assert result.archive is not None
    with tarfile.open(result.archive) as tar:
        index = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert index[0]["RepoTags"] == ["tiny:latest"] and len(index[0]["Layers"]) == 4
    reread = load_base(f"docker-archive:{result.archive}", tmp_path / "scratch")
    stored = read_layout(result.layout_dir)
    assert reread.layers.diff_ids == stored.layers.diff_ids
    assert reread.config == stored.config
