"""`bei image base` outside a checkout and for the GPU: the templates travel in the wheel (an
installed bei finds its own requirements files), and the cuda base builds from PyPI's CUDA
torch wheel (`slow`: GBs of downloads; run with `bash scripts/test.sh -m slow`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from bei_cli.oci import read_layout

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_an_installed_wheel_finds_its_templates(tmp_path: Path) -> None:
    """Build bei's wheel, install it (no deps: they come from this interpreter's site-packages)
    into a fresh venv, and ask that bei for a base recipe from a directory outside the
    checkout."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("bei_cli-*.whl"))
    venv.create(tmp_path / "venv", system_site_packages=True, with_pip=False)
    python = tmp_path / "venv" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEI_")}
    env["BEI_BASE_CACHE"] = str(tmp_path / "bases")
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    plan = subprocess.run(
        [tmp_path / "venv" / "bin" / "bei", "image", "base", "--variant", "cpu", "--dry-run"],
        capture_output=True, text=True, timeout=120, check=False, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr[-2000:]
    site = tmp_path / "venv" / "lib"
    requirement_lines = [line for line in plan.stdout.splitlines() if line.startswith("req")]
    assert len(requirement_lines) == 2, plan.stdout
    for line in requirement_lines:
        assert line.removeprefix("requirements: ").startswith(str(site)), line
    assert "  torch==2.13.0" in plan.stdout
    assert f"writes: oci:{tmp_path / 'bases' / 'cpu'}:cpu" in plan.stdout


@pytest.mark.slow
@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("debootstrap"), reason="needs root and debootstrap"
)
def test_the_cuda_base_builds(tmp_path: Path) -> None:
    """The cuda variant from scratch into a base cache (Debian mirror and PyPI needed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEI_")}
    env["BEI_BASE_CACHE"] = str(tmp_path / "bases")
    built = subprocess.run(
        [sys.executable, "-m", "bei_cli", "image", "base", "--variant", "cuda"],
        capture_output=True, text=True, timeout=3600, check=False, env=env, cwd=ROOT,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    layout = tmp_path / "bases" / "cuda"
    assert built.stdout.strip() == f"oci:{layout}:cuda"
    stored = read_layout(layout, "cuda")
    labels = stored.config["config"]["Labels"]
    assert labels["io.bei.base.engines"] == "torch,onnx,fake"
    assert labels["io.bei.base.devices"] == "cuda,cpu"
    assert "NVIDIA_VISIBLE_DEVICES=all" in stored.config["config"]["Env"]
    check_log = (tmp_path / "bases" / "cuda.work" / "check.log").read_text()
    assert "torch 2.13.0+cu" in check_log, check_log  # the CUDA build, checked in the chroot
    assert sum(blob.size for blob in stored.layers.blobs) > 1 << 30
    assert not (tmp_path / "bases" / "cuda.work" / "rootfs").exists()
    assert not (tmp_path / "bases" / "cuda.partial").exists()
    listed = subprocess.run(
        [sys.executable, "-m", "bei_cli", "image", "ls"],
        capture_output=True, text=True, timeout=120, check=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert f"cuda\toci:{layout}:cuda\t{stored.manifest_digest}" in listed.stdout
    assert json.loads((layout / "index.json").read_text())["manifests"][0]["digest"] == (
        stored.manifest_digest
    )
