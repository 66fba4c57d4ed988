"""`bei build`'s image step: with --base it writes image/ (and image.tar for docker-archive) next
to the artifact and the resolved config.yaml; without a base it says so and writes no image;
--no-image skips it. A tiny generated checkpoint on the fake engine, a tiny base layout."""

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


def test_no_base_or_no_image_writes_no_image(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BEI_BASE_IMAGE", raising=False)
    code, err = build([str(config), "-o", str(tmp_path / "a")], capsys)
    assert code == 0 and "no base image given" in err
    assert not (tmp_path / "a" / "image").exists() and (tmp_path / "a" / "config.yaml").exists()
    base = write_tiny_base(tmp_path / "base", engines="fake")
    argv = [str(config), "-o", str(tmp_path / "b"), "--base", base, "--no-image"]
    code, err = build(argv, capsys)
    assert code == 0 and "no base image" not in err
    assert not (tmp_path / "b" / "image").exists()


def test_a_base_without_the_engine_fails_the_build(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write_tiny_base(tmp_path / "base", engines="onnx")
    code, err = build([str(config), "-o", str(tmp_path / "out"), "--base", base], capsys)
    assert code == 5
    assert "fake" in err and "hint" in err
