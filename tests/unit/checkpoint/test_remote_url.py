"""REMOTE_URL against a real HTTP server on 127.0.0.1 (tests/fixtures/http_store.py), with
small synthetic checkpoints: directory listings, archives, resume, verification, errors."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bei_cli.checkpoint import SecretLookup, fetch_checkpoint
from bei_cli.checkpoint.cache_entries import EXTRACTED, OBJECTS, PARTIAL, list_entries
from bei_cli.errors import CheckpointError, ConfigError, CredentialsError, UnsupportedModelError
from tests.fixtures.archives import (
    BUILD_FILES,
    JUNK_FILES,
    all_files_of,
    build_files_of,
    make_checkpoint,
    tar_of,
    zip_of,
)
from tests.fixtures.http_store import HttpStore, serve_directory
from tests.unit.checkpoint.conftest import Repo

TOKEN = "bearer-sEcReT-0123456789"
NO_SECRETS = SecretLookup(environ={}, secrets_dir=None)
WITH_TOKEN = SecretLookup(environ={"MODEL_TOKEN": TOKEN}, secrets_dir=None)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """model/ (loose files) and the same as model.tar.gz, model.tgz, model.tar, model.zip."""
    root = tmp_path / "site"
    model = make_checkpoint(root / "model")
    for name in ("model.tar.gz", "model.tgz", "model.tar"):
        tar_of(model, root / name)
    zip_of(model, root / "model.zip")
    return root


@pytest.fixture
def store(site: Path) -> Iterator[HttpStore]:
    with serve_directory(site) as served:
        yield served


def fetch(url: str, cache: Path, secrets: SecretLookup = NO_SECRETS, **options: bool) -> Path:
    repo = Repo("REMOTE_URL", url, runtime_secret_name="model_token")
    return fetch_checkpoint(repo, secrets=secrets, cache_dir=cache, progress=False, **options)


def test_directory_listing_fetches_only_build_files(
    store: HttpStore, site: Path, tmp_path: Path
) -> None:
    folder = fetch(store.url + "/model/", tmp_path / "cache")
    assert all_files_of(folder) == build_files_of(site / "model")
    fetched = {r.path.removeprefix("/model/") for r in store.requests if r.method == "GET"}
    assert not fetched & set(JUNK_FILES)
    assert set(BUILD_FILES) <= fetched


def test_directory_url_without_trailing_slash_and_reuse(
    store: HttpStore, site: Path, tmp_path: Path
) -> None:
    first = fetch(store.url + "/model", tmp_path / "cache")
    store.requests.clear()
    again = fetch(store.url + "/model", tmp_path / "cache")
    assert again == first
    assert not store.gets("/model/model.safetensors")  # only the index and HEADs again
    assert all_files_of(again) == build_files_of(site / "model")


@pytest.mark.parametrize("name", ["model.tar.gz", "model.tgz", "model.tar", "model.zip"])
def test_archives_extract_to_their_single_top_directory(
    store: HttpStore, site: Path, tmp_path: Path, name: str
) -> None:
    folder = fetch(f"{store.url}/{name}", tmp_path / "cache")
    assert folder.name == "model"
    assert folder.parent.parent == (tmp_path / "cache" / EXTRACTED).resolve()
    assert all_files_of(folder) == all_files_of(site / "model")
    # the archive itself is not kept once extracted; a second fetch only asks HEAD
    assert [e.kind for e in list_entries(tmp_path / "cache")] == [EXTRACTED]
    store.requests.clear()
    assert fetch(f"{store.url}/{name}", tmp_path / "cache") == folder
    assert [r.method for r in store.requests] == ["HEAD"]


def test_a_dropped_connection_resumes_with_a_range_request(
    store: HttpStore, site: Path, tmp_path: Path
) -> None:
    store.faults.drop_after, store.faults.drops = 100_000, 1
    with pytest.raises(CheckpointError, match="connection broke") as err:
        fetch(store.url + "/model.tar.gz", tmp_path / "cache")
    assert err.value.exit_code == 3
    assert list_entries(tmp_path / "cache")[0].kind == PARTIAL
    folder = fetch(store.url + "/model.tar.gz", tmp_path / "cache")
    assert [r.range for r in store.gets("/model.tar.gz")] == ["", "bytes=100000-"]
    assert all_files_of(folder) == all_files_of(site / "model")


def test_resume_works_when_the_server_ignores_ranges(
    store: HttpStore, site: Path, tmp_path: Path
) -> None:
    store.faults.ignore_ranges = True
    store.faults.drop_after, store.faults.drops = 70_000, 1
    with pytest.raises(CheckpointError):
        fetch(store.url + "/model/", tmp_path / "cache")
    folder = fetch(store.url + "/model/", tmp_path / "cache")
    assert all_files_of(folder) == build_files_of(site / "model")


def test_corruption_is_caught_by_the_servers_digest(store: HttpStore, tmp_path: Path) -> None:
    store.faults.digests = True
    store.faults.corrupt.add("/model/model.safetensors")
    with pytest.raises(CheckpointError, match=r"corrupted download.*sha256"):
        fetch(store.url + "/model/", tmp_path / "cache")
    assert len(store.gets("/model/model.safetensors")) == 2  # retried once from zero
    assert not (tmp_path / "cache" / OBJECTS).exists()


def test_a_short_body_is_caught_by_the_size_check(store: HttpStore, tmp_path: Path) -> None:
    store.faults.short["/model/model.safetensors"] = 1000
    with pytest.raises(CheckpointError, match=r"corrupted download.*1000 bytes instead"):
        fetch(store.url + "/model/", tmp_path / "cache")


def test_bearer_token_is_sent_and_never_logged(
    store: HttpStore, site: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store.faults.token = TOKEN
    caplog.set_level(logging.DEBUG)
    folder = fetch(store.url + "/model.zip", tmp_path / "cache", WITH_TOKEN)
    assert all_files_of(folder) == all_files_of(site / "model")
    assert {r.authorization for r in store.requests} == {f"Bearer {TOKEN}"}
    assert TOKEN not in caplog.text
    assert "env MODEL_TOKEN" in caplog.text
    assert TOKEN not in "".join(p.read_text(errors="replace") for p in _markers(tmp_path))


def _markers(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "cache").rglob(".bei-*"))


def test_missing_token_is_401_credentials_error(store: HttpStore, tmp_path: Path) -> None:
    store.faults.token = TOKEN
    with pytest.raises(CredentialsError, match="HTTP 401") as err:
        fetch(store.url + "/model/", tmp_path / "cache")
    assert err.value.exit_code == 3
    assert err.value.hint and "$model_token" in err.value.hint


def test_wrong_token_is_403_credentials_error(store: HttpStore, tmp_path: Path) -> None:
    store.faults.token = "another"
    with pytest.raises(CredentialsError, match="HTTP 403") as err:
        fetch(store.url + "/model/", tmp_path / "cache", WITH_TOKEN)
    assert TOKEN not in err.value.message + (err.value.hint or "")


def test_not_found_is_a_checkpoint_error(store: HttpStore, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found") as err:
        fetch(store.url + "/nothing.tar.gz", tmp_path / "cache")
    assert type(err.value) is CheckpointError
    assert err.value.exit_code == 3
    assert err.value.hint


def test_connection_refused_names_the_host(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CheckpointError, match=f"127.0.0.1:{port}") as err:
        fetch(f"http://127.0.0.1:{port}/model.tar.gz", tmp_path / "cache")
    assert err.value.exit_code == 3


def test_userinfo_and_query_stay_out_of_messages(store: HttpStore, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as err:
        fetch(
            store.url.replace("://", "://user:pw@") + "/gone.zip?sig=SECRETSIG",
            tmp_path / "cache",
        )
    assert "SECRETSIG" not in err.value.message
    assert "pw@" not in err.value.message


def test_not_http_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an http"):
        fetch("ftp://example.com/model.tar.gz", tmp_path / "cache")


def test_a_file_url_that_is_no_archive_nor_listing(store: HttpStore, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="neither an archive"):
        fetch(store.url + "/model/config.json", tmp_path / "cache")


def test_offline_uses_the_cached_entry_or_says_it_is_missing(
    store: HttpStore, tmp_path: Path
) -> None:
    with pytest.raises(CheckpointError, match="offline"):
        fetch(store.url + "/model.tar.gz", tmp_path / "cache", offline=True)
    online = fetch(store.url + "/model.tar.gz", tmp_path / "cache")
    store.requests.clear()
    assert fetch(store.url + "/model.tar.gz", tmp_path / "cache", offline=True) == online
    assert store.requests == []


def test_pickle_only_is_refused_before_downloading(site: Path, tmp_path: Path) -> None:
    (site / "model" / "model.safetensors").unlink()
    with serve_directory(site) as store:
        with pytest.raises(UnsupportedModelError, match="pickle"):
            fetch(store.url + "/model/", tmp_path / "cache")
        assert not [r for r in store.requests if r.method != "GET" or "." in r.path]
        folder = fetch(store.url + "/model/", tmp_path / "cache", allow_pickle=True)
    assert (folder / "pytorch_model.bin").is_file()


def test_a_nested_checkpoint_gets_a_prefix_hint(site: Path, tmp_path: Path) -> None:
    with (
        serve_directory(site) as store,
        pytest.raises(UnsupportedModelError, match=r"no config\.json") as err,
    ):
        fetch(store.url + "/", tmp_path / "cache")
    assert err.value.exit_code == 4


@pytest.mark.parametrize("name", ["model.tar.gz", "model/"])
def test_concurrent_fetches_download_once(
    store: HttpStore, site: Path, tmp_path: Path, name: str
) -> None:
    store.faults.delay = 0.01  # per 64 KiB: the fetches overlap
    results: list[Path] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(fetch(f"{store.url}/{name}", tmp_path / "cache"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len(set(results)) == 1
    weights = "/model.tar.gz" if name.endswith("gz") else "/model/model.safetensors"
    assert len(store.gets(weights)) == 1
    expected = build_files_of(site / "model") if name == "model/" else all_files_of(site / "model")
    assert all_files_of(results[0]) == expected
    assert len(list_entries(tmp_path / "cache")) == 1
