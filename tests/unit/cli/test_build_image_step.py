"""`bei build`'s image step: with --base it writes image/ (and image.tar for docker-archive) next
to the artifact and the resolved config.yaml; without --base it takes the base for the planned
engine from the per-user base cache; a missing base, or one that cannot run the engine, is
refused before any build work; --no-image skips it. A tiny generated checkpoint on the fake
engine, tiny base layouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bei_cli.cli import main
from tests.fixtures.configs import config_yaml
from tests.fixtures.images import write_tiny_base
from tests.fixtures.models import make_tiny_sentence_transformer


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("build-image")
    model = make_tiny_sentence_transformer(root / "tiny-st")
    text = config_yaml(
        source="LOCAL", repo=str(model), revision=None, accelerator=None, bei={"engine": "fake"}
    )
    path = root / "config.yaml"
    path.write_text(text)
    return path


def build(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as caught:
        main(["build", *argv, "--quiet"])
    code = caught.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def test_base_writes_the_image_and_archive(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    base = write_tiny_base(tmp_path / "base", engines="fake")
    out = tmp_path / "out"
    argv = [str(config), "-o", str(out), "--base", base, "--format", "docker-archive"]
    code, err = build(argv, capsys)
    assert code == 0, err
    index = json.loads((out / "image" / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    assert f"@{digest}" in err
    assert (out / "image.tar").stat().st_size > 0
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["bei"]["engine"] == "fake"


@pytest.fixture
def base_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty per-user base cache, and no BEI_BASE_IMAGE."""
    monkeypatch.delenv("BEI_BASE_IMAGE", raising=False)
    monkeypatch.setenv("BEI_BASE_CACHE", str(tmp_path / "bases"))
    return tmp_path / "bases"


def test_without_flags_the_cached_base_is_used(
    config: Path, tmp_path: Path, base_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cached = write_tiny_base(base_cache / "cpu-slim", tag="cpu-slim", variant="cpu-slim")
    code, err = build([str(config), "-o", str(tmp_path / "out")], capsys)
    assert code == 0, err
    assert f"image: base {cached}" in err
    assert (tmp_path / "out" / "image" / "index.json").is_file()


def test_a_missing_base_is_refused_before_any_build_work(
    config: Path, tmp_path: Path, base_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = build([str(config), "-o", str(tmp_path / "out")], capsys)
    assert code == 5, err
    assert "bei image base --variant cpu-slim" in err and "--no-image" in err
    assert not (tmp_path / "out").exists()
    code, err = build([str(config), "-o", str(tmp_path / "art"), "--no-image"], capsys)
    assert code == 0, err
    assert (tmp_path / "art" / "manifest.json").is_file()
    assert not (tmp_path / "art" / "image").exists()


def test_a_base_without_the_engine_is_refused_before_any_build_work(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write_tiny_base(tmp_path / "base", engines="onnx")
    code, err = build([str(config), "-o", str(tmp_path / "out"), "--base", base], capsys)
    assert code == 5
    assert "not fake" in err and "hint" in err
    assert not (tmp_path / "out").exists()


def test_dry_run_names_the_base_it_would_take(
    config: Path, tmp_path: Path, base_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = build([str(config), "--dry-run"], capsys)
    assert code == 0, err
    assert "image base: missing: `bei image base --variant cpu-slim` (as root)" in err
    cached = write_tiny_base(
        base_cache / "cpu", engines="torch,onnx,fake", tag="cpu", variant="cpu"
    )
    code, err = build([str(config), "--dry-run"], capsys)
    assert code == 0 and f"image base: {cached}" in err  # cpu also runs the fake engine
