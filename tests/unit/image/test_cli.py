from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bei_cli.cli import image
from bei_cli.errors import BuildError
from bei_cli.image.base_build import BaseResult
from bei_cli.oci import read_layout
from tests.fixtures.images import write_tiny_base


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(image.command, name="image")
    return app


def test_image_build_prints_the_reference(artifact: Path, config_path: Path, base_ref: str) -> None:
    result = CliRunner().invoke(
        _app(),
        [
            "image",
            "build",
            str(artifact),
            "--config",
            str(config_path),
            "--base",
            base_ref,
            "--format",
            "docker-archive",
            "--tag",
            "dev",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"oci:{artifact / 'image'}:dev@sha256:" in result.output
    assert (artifact / "image.tar").is_file() and (artifact / "Dockerfile").is_file()


def test_image_build_takes_the_base_from_the_environment(
    artifact: Path, config_path: Path, base_ref: str
) -> None:
    result = CliRunner().invoke(
        _app(),
        ["image", "build", str(artifact), "--config", str(config_path)],
        env={"BEI_BASE_IMAGE": base_ref},
    )
    assert result.exit_code == 0, result.output


def test_image_base_dry_run_shows_the_cuda_recipe_and_the_cache(tmp_path: Path) -> None:
    env = {"BEI_BASE_CACHE": str(tmp_path / "bases")}
    result = CliRunner().invoke(
        _app(), ["image", "base", "--variant", "cuda", "--dry-run"], env=env
    )
    assert result.exit_code == 0, result.output
    assert f"writes: oci:{tmp_path / 'bases' / 'cuda'}:cuda" in result.output
    assert "engines: torch,onnx,fake  devices: cuda,cpu" in result.output
    assert "requirements-cuda.txt" in result.output and "requirements-cpu-slim.txt" in result.output
    assert "  torch==2.13.0" in result.output and "  onnxruntime==" in result.output
    assert not (tmp_path / "bases").exists()


def test_image_base_refuses_an_unknown_variant() -> None:
    result = CliRunner().invoke(_app(), ["image", "base", "--variant", "tpu", "--dry-run"])
    assert isinstance(result.exception, BuildError)
    assert "cpu-slim, cpu, cuda" in (result.exception.hint or "")


def test_image_ls_lists_the_cache(tmp_path: Path) -> None:
    env = {"BEI_BASE_CACHE": str(tmp_path)}
    empty = CliRunner().invoke(_app(), ["image", "ls"], env=env)
    assert empty.exit_code == 0 and "bei image base --variant cpu" in empty.output
    write_tiny_base(tmp_path / "cpu", engines="torch,onnx,fake", tag="cpu", variant="cpu")
    listed = CliRunner().invoke(_app(), ["image", "ls"], env=env)
    assert listed.exit_code == 0, listed.output
    assert f"cpu\toci:{tmp_path / 'cpu'}:cpu\tsha256:" in listed.output
    assert "engines=torch,onnx,fake\tdevices=cpu" in listed.output


def test_image_build_takes_the_base_from_the_cache(
    artifact: Path, config_path: Path, tmp_path: Path
) -> None:
    env = {"BEI_BASE_CACHE": str(tmp_path / "bases"), "BEI_BASE_IMAGE": ""}
    missing = CliRunner().invoke(
        _app(), ["image", "build", str(artifact), "--config", str(config_path)], env=env
    )
    assert isinstance(missing.exception, BuildError)
    assert "--variant cpu-slim" in (missing.exception.hint or "")
    write_tiny_base(tmp_path / "bases" / "cpu-slim", tag="cpu-slim", variant="cpu-slim")
    result = CliRunner().invoke(
        _app(), ["image", "build", str(artifact), "--config", str(config_path)], env=env
    )
    assert result.exit_code == 0, result.output


def test_image_base_stores_into_the_cache_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's cache handling around the builder (the real build needs root and minutes: see
    tests/integration/test_image_bases.py): built into <variant>.partial, then moved in place."""
    seen: dict[str, Path] = {}

    def fake_build(chosen, out_dir, *, work_dir, **_):  # type: ignore[no-untyped-def]
        seen["out"], seen["work"] = out_dir, work_dir
        write_tiny_base(out_dir, engines=",".join(chosen.engines), tag=chosen.name)
        stored = read_layout(out_dir)
        return BaseResult(out_dir, stored.manifest_digest, chosen.name, 1 << 20)

    monkeypatch.setattr(image, "build_base", fake_build)
    env = {"BEI_BASE_CACHE": str(tmp_path)}
    result = CliRunner().invoke(_app(), ["image", "base", "--variant", "cpu"], env=env)
    assert result.exit_code == 0, result.output
    assert seen == {"out": tmp_path / "cpu.partial", "work": tmp_path / "cpu.work"}
    assert result.stdout.strip().splitlines()[-1] == f"oci:{tmp_path / 'cpu'}:cpu"
    assert (tmp_path / "cpu" / "index.json").is_file() and not (tmp_path / "cpu.partial").exists()
