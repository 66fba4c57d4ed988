"""Malicious and oversized archives over REMOTE_URL: refused with exit code 4, the bad member
named, nothing written outside the cache and no extracted entry left to use."""

from __future__ import annotations

from pathlib import Path

import pytest

from bei_cli.checkpoint import SecretLookup, fetch_checkpoint
from bei_cli.checkpoint.archive import ExtractLimits, extract_archive
from bei_cli.checkpoint.cache_entries import EXTRACTED, list_entries
from bei_cli.errors import UnsupportedModelError
from tests.fixtures.archives import make_checkpoint, malicious_tar, malicious_zip, tar_of
from tests.fixtures.http_store import serve_directory
from tests.unit.checkpoint.conftest import Repo

ABSOLUTE_TARGET = Path("/tmp/bei-evil-absolute.txt")
TAR_ATTACKS = {
    "dotdot": "'..' component",
    "absolute": "absolute path",
    "symlink": "links to '../../../..'",
    "symlink_chain": "links to 'here/here/../..', which resolves outside",
    "hardlink": "links to '/etc/passwd'",
    "device": "device file",
}
ZIP_ATTACKS = {"dotdot": "'..' component", "absolute": "absolute path", "symlink": "links to"}


def fetch_archive(
    site: Path, name: str, cache: Path, environ: dict[str, str] | None = None
) -> Path:
    with serve_directory(site) as store:
        return fetch_checkpoint(
            Repo("REMOTE_URL", f"{store.url}/{name}"),
            secrets=SecretLookup(environ=environ or {}, secrets_dir=None),
            cache_dir=cache,
            progress=False,
        )


def assert_refused(tmp_path: Path, site: Path, name: str, reason: str) -> None:
    before = {p for p in tmp_path.rglob("*") if "cache" not in p.parts}
    with pytest.raises(UnsupportedModelError) as err:
        fetch_archive(site, name, tmp_path / "cache")
    assert err.value.exit_code == 4
    assert reason in err.value.message
    assert "bei refuses to extract it" in err.value.message
    assert err.value.hint and "tar czf" in err.value.hint
    assert {p for p in tmp_path.rglob("*") if "cache" not in p.parts} == before
    assert not (tmp_path.parent / "evil.txt").exists()
    assert not ABSOLUTE_TARGET.exists()
    assert not [e for e in list_entries(tmp_path / "cache") if e.kind == EXTRACTED]


@pytest.mark.parametrize("attack", list(TAR_ATTACKS))
def test_malicious_tar_is_refused(tmp_path: Path, attack: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    malicious_tar(site / "evil.tar.gz", attack)
    assert_refused(tmp_path, site, "evil.tar.gz", TAR_ATTACKS[attack])


@pytest.mark.parametrize("attack", list(ZIP_ATTACKS))
def test_malicious_zip_is_refused(tmp_path: Path, attack: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    malicious_zip(site / "evil.zip", attack)
    assert_refused(tmp_path, site, "evil.zip", ZIP_ATTACKS[attack])


def test_the_size_limit_is_an_option(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    tar_of(make_checkpoint(tmp_path / "model"), site / "model.tar")
    with pytest.raises(UnsupportedModelError, match="more than the limit of 1000"):
        fetch_archive(site, "model.tar", tmp_path / "cache", {"BEI_ARCHIVE_MAX_BYTES": "1000"})
    folder = fetch_archive(site, "model.tar", tmp_path / "cache")
    assert (folder / "model.safetensors").stat().st_size == 300_000


def test_the_file_count_limit(tmp_path: Path) -> None:
    archive = tar_of(make_checkpoint(tmp_path / "model"), tmp_path / "model.tar")
    with pytest.raises(UnsupportedModelError, match="more than the limit of 3"):
        extract_archive(
            archive, tmp_path / "out", label="model.tar", limits=ExtractLimits(max_files=3)
        )


def test_a_safe_internal_symlink_is_kept(tmp_path: Path) -> None:
    model = make_checkpoint(tmp_path / "model")
    (model / "tokenizer.json").unlink()
    (model / "tokenizer.json").symlink_to("vocab.txt")
    archive = tar_of(model, tmp_path / "model.tar")
    extract_archive(archive, tmp_path / "out", label="model.tar")
    link = tmp_path / "out" / "model" / "tokenizer.json"
    assert link.is_symlink() and link.read_bytes() == (model / "vocab.txt").read_bytes()


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "x.tar.gz").write_bytes(b"plain text, not gzip")
    with pytest.raises(UnsupportedModelError, match="neither a zip nor"):
        extract_archive(tmp_path / "x.tar.gz", tmp_path / "out", label="x.tar.gz")
