"""The checkpoint cache with an in-memory store: keys, reuse, resume, verification, markers."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bei_cli.checkpoint.cache import (
    RemoteObject,
    content_key,
    default_cache_root,
    fetch_objects,
    select_build_objects,
)
from bei_cli.checkpoint.cache_entries import MARKER, OBJECTS, PARTIAL, list_entries
from bei_cli.checkpoint.checksums import PurePythonCrc32c, file_checksum
from bei_cli.errors import CheckpointError, UnsupportedModelError
from tests.fixtures.archives import payload

SOURCE = "s3://bucket/minilm"
CHUNK = 4096


class MemoryReader:
    """An object store in memory: serves `blobs`, or `served` bytes instead where set, and can
    fail once mid-stream at an offset (a dropped connection)."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs
        self.served: dict[str, list[bytes]] = {}  # key -> bytes to serve on successive reads
        self.fail_at: dict[str, int] = {}  # key -> offset at which the next read breaks
        self.calls: list[tuple[str, int]] = []

    def read(self, obj: RemoteObject, start: int) -> Iterator[bytes]:
        self.calls.append((obj.key, start))
        queue = self.served.get(obj.key)
        data = queue.pop(0) if queue else self.blobs[obj.key]
        fail = self.fail_at.pop(obj.key, None)
        for offset in range(start, len(data), CHUNK):
            if fail is not None and offset >= fail:
                raise CheckpointError("connection reset by the store")
            yield data[offset : offset + CHUNK]


def objects_of(blobs: dict[str, bytes], checksum: str | None = "md5") -> list[RemoteObject]:
    result = []
    for key, data in blobs.items():
        stated = None
        if checksum == "md5":
            stated = ("md5", hashlib.md5(data).hexdigest())
        elif checksum == "sha256":
            stated = ("sha256", hashlib.sha256(data).hexdigest())
        elif checksum == "crc32c":
            crc = PurePythonCrc32c()
            crc.update(data)
            stated = ("crc32c", base64.b64encode(crc.digest()).decode())
        result.append(RemoteObject(key, len(data), f"v-{key}", stated))
    return result


@pytest.fixture
def blobs() -> dict[str, bytes]:
    return {
        "config.json": b'{"architectures": ["BertModel"]}',
        "tokenizer.json": payload("tok", 10_000),
        "model.safetensors": payload("weights", 200_000),
        "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
        "empty.txt": b"",
    }


def files_in(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != MARKER
    }


def test_fetch_writes_exactly_the_objects_and_a_marker(tmp_path: Path, blobs: dict) -> None:
    reader = MemoryReader(blobs)
    objects = objects_of(blobs)
    folder = fetch_objects(SOURCE, objects, reader, cache_root=tmp_path, progress=False)
    assert folder == tmp_path / OBJECTS / content_key(SOURCE, objects)
    assert files_in(folder) == blobs
    marker = json.loads((folder / MARKER).read_text())
    assert marker["source"] == SOURCE
    assert marker["files"] == len(blobs)
    assert marker["bytes"] == sum(len(b) for b in blobs.values())
    assert not any((tmp_path / PARTIAL).iterdir())


def test_a_complete_entry_is_reused_without_reading(tmp_path: Path, blobs: dict) -> None:
    reader = MemoryReader(blobs)
    first = fetch_objects(SOURCE, objects_of(blobs), reader, cache_root=tmp_path, progress=False)
    calls = len(reader.calls)
    again = fetch_objects(SOURCE, objects_of(blobs), reader, cache_root=tmp_path, progress=False)
    assert again == first
    assert len(reader.calls) == calls


def test_the_key_covers_source_and_every_key_size_version(blobs: dict) -> None:
    objects = objects_of(blobs)
    key = content_key(SOURCE, objects)
    assert content_key(SOURCE, list(reversed(objects))) == key
    assert content_key("s3://other/minilm", objects) != key
    changed = [RemoteObject(o.key, o.size, o.version + "x") for o in objects]
    assert content_key(SOURCE, changed) != key
    assert content_key(SOURCE, objects[:-1]) != key


def test_an_interrupted_download_resumes_byte_identical(tmp_path: Path, blobs: dict) -> None:
    reader = MemoryReader(blobs)
    reader.fail_at["model.safetensors"] = 120_000
    objects = objects_of(blobs)
    with pytest.raises(CheckpointError, match="connection reset"):
        fetch_objects(SOURCE, objects, reader, cache_root=tmp_path, progress=False)
    key = content_key(SOURCE, objects)
    partial = tmp_path / PARTIAL / key / "model.safetensors"
    assert 0 < partial.stat().st_size < len(blobs["model.safetensors"])
    assert not (tmp_path / OBJECTS / key).exists()  # nothing half-done is visible
    kept = partial.stat().st_size

    folder = fetch_objects(SOURCE, objects, reader, cache_root=tmp_path, progress=False)
    assert ("model.safetensors", kept) in reader.calls  # a ranged read from where it stopped
    assert files_in(folder) == blobs


@pytest.mark.parametrize("checksum", ["md5", "sha256", "crc32c"])
def test_corrupted_bytes_are_detected_and_refetched_once(
    tmp_path: Path, blobs: dict, checksum: str
) -> None:
    reader = MemoryReader(blobs)
    bad = bytearray(blobs["model.safetensors"])
    bad[1234] ^= 0xFF
    reader.served["model.safetensors"] = [bytes(bad)]  # the first read is corrupted
    folder = fetch_objects(
        SOURCE, objects_of(blobs, checksum), reader, cache_root=tmp_path, progress=False
    )
    assert files_in(folder) == blobs
    assert [c for c in reader.calls if c[0] == "model.safetensors"] == [
        ("model.safetensors", 0),
        ("model.safetensors", 0),
    ]


def test_corrupted_twice_is_an_error_and_no_entry(tmp_path: Path, blobs: dict) -> None:
    reader = MemoryReader(blobs)
    bad = bytearray(blobs["model.safetensors"])
    bad[-1] ^= 0x01
    reader.served["model.safetensors"] = [bytes(bad), bytes(bad)]
    with pytest.raises(CheckpointError, match="corrupted download") as err:
        fetch_objects(
            SOURCE, objects_of(blobs, "sha256"), reader, cache_root=tmp_path, progress=False
        )
    assert err.value.exit_code == 3
    assert err.value.hint
    assert not (tmp_path / OBJECTS).exists() or not any((tmp_path / OBJECTS).iterdir())
    assert not (
        tmp_path / PARTIAL / content_key(SOURCE, objects_of(blobs)) / "model.safetensors"
    ).exists()


def test_a_truncated_object_fails_the_size_check(tmp_path: Path, blobs: dict) -> None:
    reader = MemoryReader(blobs)
    short = blobs["tokenizer.json"][:-10]
    reader.served["tokenizer.json"] = [short, short]
    with pytest.raises(CheckpointError, match="bytes instead of 10000"):
        fetch_objects(SOURCE, objects_of(blobs, None), reader, cache_root=tmp_path, progress=False)


def test_a_partial_file_longer_than_the_object_starts_over(tmp_path: Path, blobs: dict) -> None:
    objects = objects_of(blobs)
    stale = tmp_path / PARTIAL / content_key(SOURCE, objects) / "config.json"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x" * 1000)
    folder = fetch_objects(
        SOURCE, objects, MemoryReader(blobs), cache_root=tmp_path, progress=False
    )
    assert files_in(folder) == blobs


def test_an_entry_without_marker_is_never_used(tmp_path: Path, blobs: dict) -> None:
    objects = objects_of(blobs)
    fake = tmp_path / OBJECTS / content_key(SOURCE, objects)
    fake.mkdir(parents=True)
    (fake / "config.json").write_text("half-written")
    reader = MemoryReader(blobs)
    folder = fetch_objects(SOURCE, objects, reader, cache_root=tmp_path, progress=False)
    assert folder == fake
    assert files_in(folder) == blobs
    assert (folder / MARKER).is_file()
    assert len(reader.calls) == len(blobs) - 1  # every non-empty object was read


def test_a_broken_entry_is_refetched_after_its_marker_is_gone(tmp_path: Path, blobs: dict) -> None:
    reader = MemoryReader(blobs)
    folder = fetch_objects(SOURCE, objects_of(blobs), reader, cache_root=tmp_path, progress=False)
    (folder / MARKER).unlink()
    (folder / "model.safetensors").write_bytes(b"garbage")
    again = fetch_objects(SOURCE, objects_of(blobs), reader, cache_root=tmp_path, progress=False)
    assert files_in(again) == blobs


@pytest.mark.parametrize(
    "key", ["../evil", "/etc/passwd", "a/../../b", "a//b", ".bei-complete.json", "a\\..\\b", ""]
)
def test_unsafe_object_keys_are_refused(tmp_path: Path, key: str) -> None:
    obj = RemoteObject(key, 1, "v")
    with pytest.raises(UnsupportedModelError, match="outside the checkpoint"):
        fetch_objects(SOURCE, [obj], MemoryReader({key: b"x"}), cache_root=tmp_path, progress=False)
    assert not (tmp_path / OBJECTS).exists()


def test_progress_bar_counts_bytes_on_stderr(
    tmp_path: Path, blobs: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    fetch_objects(
        SOURCE, objects_of(blobs), MemoryReader(blobs), cache_root=tmp_path, progress=True
    )
    assert "fetching" in capsys.readouterr().err


def test_pure_python_crc32c_matches_the_standard_and_google_crc32c(tmp_path: Path) -> None:
    crc = PurePythonCrc32c()
    crc.update(b"123456789")
    assert crc.digest() == bytes.fromhex("e3069283")  # the CRC-32C check value
    google_crc32c = pytest.importorskip("google_crc32c")
    data = payload("crc", 70_000)
    (tmp_path / "blob").write_bytes(data)
    expected = base64.b64encode(google_crc32c.Checksum(data).digest()).decode()
    assert file_checksum(tmp_path / "blob", "crc32c") == expected
    slow = PurePythonCrc32c()
    slow.update(data)
    assert base64.b64encode(slow.digest()).decode() == expected


def test_default_cache_root_precedence(tmp_path: Path) -> None:
    assert default_cache_root({"BEI_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x"}) == Path("/c")
    assert default_cache_root({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/bei")
    assert default_cache_root({"HOME": "/h"}) == Path("/h/.cache/bei")


def test_listing_shows_complete_and_partial_entries(tmp_path: Path, blobs: dict) -> None:
    fetch_objects(
        SOURCE, objects_of(blobs), MemoryReader(blobs), cache_root=tmp_path, progress=False
    )
    other = {k: v + b"!" for k, v in blobs.items()}
    broken = MemoryReader(other)
    broken.fail_at["model.safetensors"] = 8192
    with pytest.raises(CheckpointError):
        fetch_objects("gs://b/m", objects_of(other), broken, cache_root=tmp_path, progress=False)
    entries = {e.source: e for e in list_entries(tmp_path)}
    assert entries[SOURCE].complete and entries[SOURCE].files == len(blobs)
    assert not entries["gs://b/m"].complete
    assert 0 < entries["gs://b/m"].size < sum(len(v) for v in other.values())
    shutil.rmtree(tmp_path / "locks")  # locks are recreated on demand
    assert len(list_entries(tmp_path)) == 2


def listed(*keys: str) -> list[RemoteObject]:
    return [RemoteObject(k, 1, "v") for k in keys]


BASE = ("config.json", "tokenizer.json", "modules.json", "1_Pooling/config.json")


def test_select_takes_build_files_and_skips_the_rest() -> None:
    keys = (
        *BASE,
        "model.safetensors",
        "pytorch_model.bin",
        "optimizer.pt",
        "onnx/model.onnx",
        "2_Dense/model.safetensors",
        "2_Dense/pytorch_model.bin",
        "README.md",
    )
    chosen = {o.key for o in select_build_objects(listed(*keys))}
    assert chosen == {*BASE, "model.safetensors", "2_Dense/model.safetensors"}


def test_select_falls_back_to_pickle_per_directory_only_when_allowed() -> None:
    keys = (*BASE, "model.safetensors", "2_Dense/pytorch_model.bin")
    chosen = {o.key for o in select_build_objects(listed(*keys))}
    assert "2_Dense/pytorch_model.bin" in chosen
    with pytest.raises(UnsupportedModelError, match="2_Dense has only pickle"):
        select_build_objects(listed(*keys), allow_pickle=False)


@pytest.mark.parametrize(
    ("keys", "words", "hint"),
    [
        (("tokenizer.json", "model.safetensors"), "no config.json", None),
        (("config.json", "model.safetensors"), "no tokenizer.json", None),
        (("config.json", "tokenizer.json"), "no weights", None),
        (("v1/config.json", "v1/tokenizer.json"), "no config.json", "under v1/"),
    ],
)
def test_select_refuses_incomplete_checkpoints(
    keys: tuple[str, ...], words: str, hint: str | None
) -> None:
    with pytest.raises(UnsupportedModelError, match=words) as err:
        select_build_objects(listed(*keys))
    if hint:
        assert err.value.hint and hint in err.value.hint
