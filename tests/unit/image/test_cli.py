from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from bei_cli.cli import image


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


def test_image_base_cuda_is_refused_with_the_dockerfile(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(), ["image", "base", "--variant", "cuda", "-o", str(tmp_path / "b")]
    )
    assert result.exit_code != 0
    assert "cuda.Dockerfile" in (result.exception.hint or "")  # type: ignore[union-attr]
