"""The real image tools accept what bei writes: skopeo, umoci and `podman load` (tiny base, so
these stay fast; each podman call uses its own --root/--runroot)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bei_cli.image.build import build_image
from tests.fixtures.images import podman_storage


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_skopeo_inspects_and_copies_the_layout(
    artifact: Path, config_path: Path, base_ref: str, tmp_path: Path
) -> None:
    _need("skopeo")
    result = build_image(artifact, config_path, base_ref)
    inspected = json.loads(_run("skopeo", "inspect", f"oci:{result.layout_dir}:latest"))
    assert inspected["Digest"] == result.manifest_digest
    assert inspected["Labels"]["io.bei.engine"] == "onnx"
    config = json.loads(_run("skopeo", "inspect", "--config", f"oci:{result.layout_dir}"))
    assert config["config"]["User"] == "10001:10001"
    _run("skopeo", "copy", "-q", f"oci:{result.layout_dir}:latest", f"oci-archive:{tmp_path}/c.tar")
    _run("skopeo", "copy", "-q", "--preserve-digests", f"oci:{result.layout_dir}:latest",
         f"oci:{tmp_path}/copy:latest")  # fmt: skip
    copied = json.loads(_run("skopeo", "inspect", f"oci:{tmp_path}/copy:latest"))
    assert copied["Digest"] == result.manifest_digest


def test_umoci_unpacks_the_layout(
    artifact: Path, config_path: Path, base_ref: str, tmp_path: Path
) -> None:
    _need("umoci")
    result = build_image(artifact, config_path, base_ref)
    bundle = tmp_path / "bundle"
    _run("umoci", "unpack", "--rootless", "--image", f"{result.layout_dir}:latest", str(bundle))
    rootfs = bundle / "rootfs"
    assert (rootfs / "opt/bei/artifact/manifest.json").read_bytes() == (
        artifact / "manifest.json"
    ).read_bytes()
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["args"][:3] == ["/opt/bei/bin/bei", "serve", "/opt/bei/artifact"]


def test_podman_loads_the_docker_archive(
    artifact: Path, config_path: Path, base_ref: str, tmp_path: Path
) -> None:
    _need("podman")
    result = build_image(artifact, config_path, base_ref, formats=["docker-archive"])
    with podman_storage() as podman:
        out = _run(*podman, "load", "-i", str(result.archive))
        assert "tiny:latest" in out  # the image name: checkpoint org/tiny
        labels = json.loads(_run(*podman, "image", "inspect", "tiny:latest"))[0]["Labels"]
        assert labels["io.bei.engine.digest"].startswith("sha256:")
