"""`bei cache ls|rm|prune` on a cache filled through the real fetch_objects."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bei_cli.checkpoint.cache import fetch_objects
from bei_cli.checkpoint.cache_entries import MARKER, list_entries
from bei_cli.cli.cache import command
from bei_cli.errors import CheckpointError
from tests.unit.checkpoint.test_cache import MemoryReader, objects_of

BLOBS = {"config.json": b"{}", "model.safetensors": b"w" * 5000}
OTHER = {"config.json": b"{ }", "model.safetensors": b"v" * 7000}


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """Two complete entries (two sources) and one partial (a third source, interrupted)."""
    root = tmp_path / "cache"
    fetch_objects(
        "s3://b/one", objects_of(BLOBS), MemoryReader(BLOBS), cache_root=root, progress=False
    )
    fetch_objects(
        "gs://b/two", objects_of(OTHER), MemoryReader(OTHER), cache_root=root, progress=False
    )
    broken = MemoryReader(OTHER)
    broken.fail_at["model.safetensors"] = 4096
    with pytest.raises(CheckpointError):
        fetch_objects("az://a/c/three", objects_of(OTHER), broken, cache_root=root, progress=False)
    return root


def bei_cache(*args: str, root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(command, [*args, "--cache-dir", str(root)], terminal_width=200)
    return result.exit_code, result.output


def sources(root: Path) -> set[str]:
    return {e.source for e in list_entries(root)}


def test_ls_shows_every_entry(cache: Path) -> None:
    code, out = bei_cache("ls", root=cache)
    assert code == 0, out
    for entry in list_entries(cache):
        assert entry.key in out
        assert entry.source in out
    assert out.count("complete") == 2 and out.count("partial") == 2  # kind + state columns
    assert "3 entries" in out


def test_ls_of_an_empty_cache(tmp_path: Path) -> None:
    code, out = bei_cache("ls", root=tmp_path / "nothing")
    assert code == 0
    assert "empty" in out


def test_rm_by_key_prefix(cache: Path) -> None:
    entry = next(e for e in list_entries(cache) if e.source == "s3://b/one")
    code, out = bei_cache("rm", entry.key[:10], root=cache)
    assert code == 0, out
    assert sources(cache) == {"gs://b/two", "az://a/c/three"}
    assert not entry.path.exists()


def test_rm_by_source(cache: Path) -> None:
    code, out = bei_cache("rm", "--source", "gs://b/two", root=cache)
    assert code == 0, out
    assert "removed" in out
    assert sources(cache) == {"s3://b/one", "az://a/c/three"}


@pytest.mark.parametrize("args", [(), ("abc", "--source", "x"), ("ffffffff",)])
def test_rm_needs_exactly_one_existing_target(cache: Path, args: tuple[str, ...]) -> None:
    code, _ = bei_cache("rm", *args, root=cache)
    assert code == 2
    assert len(list_entries(cache)) == 3


def test_prune_partial_keeps_complete_entries(cache: Path) -> None:
    code, out = bei_cache("prune", "--partial", root=cache)
    assert code == 0, out
    assert sources(cache) == {"s3://b/one", "gs://b/two"}


def test_prune_older_than_uses_last_use(cache: Path) -> None:
    old = next(e for e in list_entries(cache) if e.source == "s3://b/one")
    month_ago = time.time() - 31 * 86400
    os.utime(old.path / MARKER, (month_ago, month_ago))
    code, out = bei_cache("prune", "--older-than", "30", root=cache)
    assert code == 0, out
    assert sources(cache) == {"gs://b/two", "az://a/c/three"}
    # a reuse refreshes the last-use time
    fetch_objects(
        "gs://b/two", objects_of(OTHER), MemoryReader({}), cache_root=cache, progress=False
    )
    assert bei_cache("prune", "--older-than", "0.0001", root=cache)[0] == 0


def test_prune_needs_a_criterion(cache: Path) -> None:
    assert bei_cache("prune", root=cache)[0] == 2


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(command, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "bei cache ls" in result.output
