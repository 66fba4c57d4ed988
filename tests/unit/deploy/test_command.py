"""`bei deploy --render` end to end through Typer: files, stdout, determinism, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from bei_cli.cli import deploy
from bei_cli.deploy import validate_manifests
from tests.unit.deploy.support import IMAGE, write_build

pytest.importorskip("kubernetes_validate")

app = typer.Typer()
app.command(help=deploy.HELP, epilog=deploy.EXAMPLE)(deploy.command)
runner = CliRunner()
FILES = ["deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml"]


def test_render_writes_one_valid_file_per_kind(tmp_path: Path) -> None:
    root = write_build(tmp_path / "build", accelerator="L4", api_key_secret="bei_api_key")
    result = runner.invoke(app, ["--render", str(root), "--image", IMAGE])
    assert result.exit_code == 0, result.output
    out = root / "k8s"
    assert result.stdout.split() == [str(out / name) for name in FILES]
    docs = [yaml.safe_load((out / name).read_text()) for name in FILES]
    validate_manifests(docs)  # what was written, read back, is still valid
    assert "kubectl apply -f" in result.stderr


def test_render_is_deterministic(tmp_path: Path) -> None:
    root = write_build(tmp_path / "build", accelerator="H100")
    outputs = []
    for out in ("a", "b"):
        args = ["--render", str(root), "--image", IMAGE, "-o", str(tmp_path / out)]
        assert runner.invoke(app, args).exit_code == 0
        outputs.append({name: (tmp_path / out / name).read_bytes() for name in FILES})
    assert outputs[0] == outputs[1]
    stdout = runner.invoke(app, ["--render", str(root), "--image", IMAGE, "-o", "-"]).stdout
    assert stdout == "---\n".join(text.decode() for text in outputs[0].values())


def test_a_fixed_replica_render_removes_the_stale_autoscaler(tmp_path: Path) -> None:
    root = write_build(tmp_path / "build")
    assert runner.invoke(app, ["--render", str(root), "--image", IMAGE]).exit_code == 0
    assert (root / "k8s" / "hpa.yaml").exists()
    result = runner.invoke(app, ["--render", str(root), "--image", IMAGE, "--replicas", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (root / "k8s").iterdir()) == [
        "deployment.yaml",
        "pdb.yaml",
        "service.yaml",
    ]


def test_config_flag_and_unpinned_image_warning(tmp_path: Path) -> None:
    root = write_build(tmp_path / "build")
    config = tmp_path / "elsewhere.yaml"
    (root / "config.yaml").rename(config)
    args = ["--render", str(root), "--image", "reg.example.com/m:dev", "--config", str(config)]
    result = runner.invoke(app, [*args, "-o", "-"])
    assert result.exit_code == 0, result.output
    assert "no @sha256 digest" in result.stderr
    assert "app.kubernetes.io/version: dev" in result.stdout


def test_errors_name_the_missing_piece(tmp_path: Path) -> None:
    root = write_build(tmp_path / "build")
    without_render = runner.invoke(app, [str(root), "--image", IMAGE])
    assert "--render" in (without_render.exception.hint or "")  # type: ignore[union-attr]
    (root / "config.yaml").unlink()
    no_config = runner.invoke(app, ["--render", str(root), "--image", IMAGE])
    assert no_config.exception is not None and "config" in str(no_config.exception)
    not_built = runner.invoke(app, ["--render", str(tmp_path), "--image", IMAGE])
    assert "manifest.json" in str(not_built.exception)


def test_no_secret_value_is_rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BEI_API_KEY", "bei_api_key", "BEI_API_KEY_SECRET"):
        monkeypatch.setenv(name, "s3cr3t-canary")
    root = write_build(tmp_path / "build", api_key_secret="bei_api_key")
    result = runner.invoke(app, ["--render", str(root), "--image", IMAGE, "-o", "-"])
    assert result.exit_code == 0 and "secretKeyRef" in result.stdout
    assert "s3cr3t-canary" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "image",
    ["registry.example.com/team/minilm@sha256:3f1c...", "reg.example.com/m@sha256:abc"],
)
def test_a_placeholder_digest_is_refused(tmp_path: Path, image: str) -> None:
    root = write_build(tmp_path / "build")
    result = runner.invoke(app, ["--render", str(root), "--image", image])
    assert result.exit_code != 0
    assert "invalid digest" in str(result.exception) or "invalid digest" in result.output
    assert not (root / "k8s").exists()
