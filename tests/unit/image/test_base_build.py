"""The base builder's inputs, without root or network: every variant's requirements (with the
files they include) ship in the package and are staged side by side in the chroot, pinned to
what bei is tested with; only the cpu variant sees the local torch CPU wheel, and it refuses to
start without one."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

import bei_cli
from bei_cli.errors import BuildError
from bei_cli.image.base_build import (
    STAGING,
    TEMPLATES,
    _stage_pip_inputs,
    check_torch_source,
    requirement_files,
    variant,
)
from bei_cli.image.variants import VARIANTS


def pins(name: str) -> dict[str, str]:
    found = {}
    for path in requirement_files(variant(name), TEMPLATES):
        for line in path.read_text().splitlines():
            package, sep, pinned = line.strip().partition("==")
            if sep and not package.startswith("#"):
                found[package] = pinned
    return found


@pytest.mark.parametrize("name", list(VARIANTS))
def test_requirements_ship_in_the_package_with_their_includes(name: str) -> None:
    files = requirement_files(variant(name), TEMPLATES)
    assert Path(bei_cli.__file__).resolve().parent / "templates" == TEMPLATES  # package data
    assert files[0].name == f"requirements-{name}.txt"
    if name != "cpu-slim":
        assert [f.name for f in files[1:]] == ["requirements-cpu-slim.txt"]
        assert pins(name)["torch"] == "2.13.0"
    assert "onnxruntime" in pins(name) and "fastapi" in pins(name)


def test_pins_are_the_versions_installed_here() -> None:
    """The bases hold what bei's tests ran with: a pin that drifted from the installed version
    (an upgrade here, a stale template) fails here, not in a container."""
    drifted = {}
    for package, pinned in pins("cpu").items():
        try:
            installed = version(package).split("+")[0]  # torch 2.13.0+cpu
        except PackageNotFoundError:
            continue
        if installed != pinned:
            drifted[package] = (pinned, installed)
    assert not drifted, drifted


def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "rootfs" / "etc").mkdir(parents=True)
    return tmp_path / "rootfs"


def wheels(tmp_path: Path) -> Path:
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    (wheel_dir / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"w")
    return wheel_dir


def test_the_cpu_variant_stages_its_include_and_the_cpu_wheel(tmp_path: Path) -> None:
    chosen = variant("cpu")
    root = rootfs(tmp_path)
    env = _stage_pip_inputs(
        root,
        requirement_files(chosen, TEMPLATES),
        chosen,
        {"PIP_FIND_LINKS": str(wheels(tmp_path))},
    )
    staged = root / STAGING
    assert (staged / "requirements-cpu.txt").is_file()
    assert (staged / "requirements-cpu-slim.txt").is_file()  # what `-r` in requirements-cpu names
    assert env["PIP_FIND_LINKS"] == f"/{STAGING}/wheels"
    assert [p.name for p in (staged / "wheels").iterdir()] == [
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    ]


def test_the_cuda_variant_never_sees_the_cpu_wheel(tmp_path: Path) -> None:
    chosen = variant("cuda")
    root = rootfs(tmp_path)
    host = {"PIP_FIND_LINKS": str(wheels(tmp_path))}
    env = _stage_pip_inputs(root, requirement_files(chosen, TEMPLATES), chosen, host)
    assert "PIP_FIND_LINKS" not in env and not (root / STAGING / "wheels").exists()
    check_torch_source(chosen, requirement_files(chosen, TEMPLATES), {})


def test_the_cpu_variant_refuses_to_start_without_a_cpu_wheel(tmp_path: Path) -> None:
    chosen = variant("cpu")
    files = requirement_files(chosen, TEMPLATES)
    with pytest.raises(BuildError) as caught:
        check_torch_source(chosen, files, {"PIP_FIND_LINKS": str(tmp_path)})
    assert "CPU build of torch 2.13.0" in caught.value.message
    assert "download.pytorch.org/whl/cpu" in (caught.value.hint or "")
    check_torch_source(chosen, files, {"PIP_FIND_LINKS": str(wheels(tmp_path))})
    check_torch_source(
        chosen, files, {"PIP_EXTRA_INDEX_URL": "https://download.pytorch.org/whl/cpu"}
    )


def test_a_missing_include_is_named(tmp_path: Path) -> None:
    (tmp_path / "requirements-cpu.txt").write_text("-r requirements-cpu-slim.txt\ntorch==2.13.0\n")
    with pytest.raises(BuildError, match=r"requirements-cpu-slim\.txt is missing"):
        requirement_files(variant("cpu"), tmp_path)


def test_every_runtime_dependency_is_in_every_base() -> None:
    """[project].dependencies is what `bei serve` imports; a base without one of them builds
    fine and fails when the container starts (msgpack did)."""
    import tomllib

    project = tomllib.loads((Path(bei_cli.__file__).parents[1] / "pyproject.toml").read_text())
    needed = {
        re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        for requirement in project["project"]["dependencies"]
    }
    for name in VARIANTS:
        pinned = {package.lower().replace("_", "-") for package in pins(name)}
        assert needed <= pinned, (name, sorted(needed - pinned))
