"""The real all-MiniLM-L6-v2 (90 MB) over REMOTE_URL: loose files, tar.gz and zip give the
checkpoint's own bytes, and a download killed midway completes byte-identical on retry."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bei_cli.checkpoint import SecretLookup, fetch_checkpoint
from bei_cli.errors import CheckpointError
from tests.fixtures.archives import all_files_of
from tests.fixtures.http_store import HttpStore, serve_directory
from tests.fixtures.models import minilm_dir
from tests.unit.checkpoint.conftest import Repo

pytestmark = pytest.mark.integration

NOT_FOR_BUILDS = {".gitattributes", "README.md", "data_config.json"}


@pytest.fixture(scope="module")
def minilm_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("minilm-site")
    shutil.copytree(minilm_dir(), site / "minilm")
    with tarfile.open(site / "minilm.tar.gz", "w:gz", compresslevel=1) as tar:
        tar.add(site / "minilm", arcname="all-MiniLM-L6-v2")
    with zipfile.ZipFile(site / "minilm.zip", "w", zipfile.ZIP_STORED) as bundle:
        for path in sorted((site / "minilm").rglob("*")):
            bundle.write(path, path.relative_to(site / "minilm").as_posix())  # no top directory
    return site


@pytest.fixture
def store(minilm_site: Path) -> Iterator[HttpStore]:
    with serve_directory(minilm_site) as served:
        yield served


def fetch(url: str, cache: Path) -> Path:
    return fetch_checkpoint(
        Repo("REMOTE_URL", url),
        secrets=SecretLookup(environ={}, secrets_dir=None),
        cache_dir=cache,
        progress=False,
    )


def minilm_build_files() -> dict[str, bytes]:
    files = all_files_of(minilm_dir())
    return {name: data for name, data in files.items() if name not in NOT_FOR_BUILDS}


def test_loose_files_killed_midway_then_retried_are_byte_identical(
    store: HttpStore, tmp_path: Path
) -> None:
    store.faults.drop_after, store.faults.drops = 30_000_000, 1
    with pytest.raises(CheckpointError, match="connection broke"):
        fetch(store.url + "/minilm/", tmp_path / "cache")
    folder = fetch(store.url + "/minilm/", tmp_path / "cache")
    ranges = [r.range for r in store.gets("/minilm/model.safetensors")]
    assert ranges[0] == "" and ranges[1].startswith("bytes=")
    assert int(ranges[1].removeprefix("bytes=").rstrip("-")) > 0
    assert all_files_of(folder) == minilm_build_files()


@pytest.mark.parametrize("name", ["minilm.tar.gz", "minilm.zip"])
def test_archives_give_the_checkpoints_bytes(store: HttpStore, tmp_path: Path, name: str) -> None:
    folder = fetch(f"{store.url}/{name}", tmp_path / "cache")
    assert all_files_of(folder) == all_files_of(minilm_dir())
