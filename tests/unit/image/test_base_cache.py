"""The per-user base cache: where it lives, how `bei build` finds the variant an artifact needs
(the smallest that runs it), the error that names the command building a missing one, and the
replace-whole-or-nothing store."""

from __future__ import annotations

from pathlib import Path

import pytest

from bei_cli.errors import BuildError
from bei_cli.image.base_cache import cache_root, find_base, list_cached, reference, store
from tests.fixtures.images import write_tiny_base

LABELS = {"cpu-slim": "onnx,fake", "cpu": "torch,onnx,fake", "cuda": "torch,onnx,fake"}


def cached(root: Path, variant: str) -> str:
    devices = "cuda,cpu" if variant == "cuda" else "cpu"
    return write_tiny_base(
        root / variant, engines=LABELS[variant], tag=variant, devices=devices, variant=variant
    )


def test_cache_root_precedence(tmp_path: Path) -> None:
    home = {"HOME": str(tmp_path / "home")}
    assert cache_root(home) == tmp_path / "home" / ".cache" / "bei" / "bases"
    xdg = home | {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert cache_root(xdg) == tmp_path / "xdg" / "bei" / "bases"
    assert cache_root(xdg | {"BEI_BASE_CACHE": str(tmp_path / "ci")}) == tmp_path / "ci"


def test_an_empty_cache_names_the_command_and_the_ways_around_it(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as caught:
        find_base(tmp_path, {"torch"}, "cpu")
    assert str(tmp_path) in caught.value.message and "no cpu base" in caught.value.message
    hint = caught.value.hint or ""
    assert "`bei image base --variant cpu`" in hint
    assert "--base" in hint and "--no-image" in hint
    with pytest.raises(BuildError, match="no cuda base"):
        find_base(tmp_path, {"torch"}, "cuda")


def test_the_smallest_cached_variant_that_runs_the_artifact(tmp_path: Path) -> None:
    assert cached(tmp_path, "cpu") == reference(tmp_path, "cpu")
    assert find_base(tmp_path, {"onnx"}, "cpu") == f"oci:{tmp_path / 'cpu'}:cpu"
    cached(tmp_path, "cpu-slim")
    assert find_base(tmp_path, {"onnx"}, "cpu") == f"oci:{tmp_path / 'cpu-slim'}:cpu-slim"
    assert find_base(tmp_path, {"torch", "onnx"}, "cpu") == f"oci:{tmp_path / 'cpu'}:cpu"
    with pytest.raises(BuildError, match="no cuda base"):  # a cpu base never stands in
        find_base(tmp_path, {"torch"}, "cuda")


def test_store_replaces_the_cached_base_and_lists_it(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    first = cached(tmp_path / "built-1", "cpu")
    store(tmp_path / "built-1" / "cpu", root, "cpu")
    before = {entry.variant: entry.digest for entry in list_cached(root)}
    second_dir = tmp_path / "built-2"
    write_tiny_base(second_dir / "cpu", engines="torch,onnx,fake", tag="cpu", variant="cpu-v2")
    store(second_dir / "cpu", root, "cpu")
    listed = list_cached(root)
    assert [entry.variant for entry in listed] == ["cpu"]
    assert listed[0].digest != before["cpu"] and listed[0].labels["io.bei.base.variant"] == "cpu-v2"
    assert sorted(p.name for p in root.iterdir()) == ["cpu"] and first.startswith("oci:")
