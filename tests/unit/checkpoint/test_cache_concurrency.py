"""Two fetches of one checkpoint at once (threads, and separate processes): one download, one
entry, identical bytes for both callers."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from bei_cli.checkpoint.cache import RemoteObject, fetch_objects
from bei_cli.checkpoint.cache_entries import OBJECTS, list_entries
from tests.fixtures.archives import payload

SOURCE = "https://models.example/minilm/"
BLOBS = {
    "config.json": b"{}",
    "tokenizer.json": payload("tok", 50_000),
    "model.safetensors": payload("w", 400_000),
}


def objects() -> list[RemoteObject]:
    return [
        RemoteObject(k, len(v), "etag-1", ("sha256", hashlib.sha256(v).hexdigest()))
        for k, v in BLOBS.items()
    ]


class SlowReader:
    """Serves BLOBS slowly enough that a second fetch starts while the first is reading, and
    logs every read (one line per read, appended to a file shared between processes)."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def read(self, obj: RemoteObject, start: int) -> Iterator[bytes]:
        with self.log.open("a") as file:
            file.write(f"{obj.key} {start}\n")
        data = BLOBS[obj.key]
        for offset in range(start, len(data), 50_000):
            time.sleep(0.02)
            yield data[offset : offset + 50_000]


def wait_for_each_other(gate: Path, parties: int = 2) -> None:
    """Start both fetches together (processes share no Barrier; a directory will do)."""
    gate.mkdir(exist_ok=True)
    (gate / f"{os.getpid()}-{threading.get_ident()}").touch()
    deadline = time.monotonic() + 30
    while len(list(gate.iterdir())) < parties and time.monotonic() < deadline:
        time.sleep(0.005)


def fetch_in_child(cache_root: str, log: str) -> tuple[str, dict[str, str]]:
    wait_for_each_other(Path(log).with_name("gate"))
    folder = fetch_objects(
        SOURCE, objects(), SlowReader(Path(log)), cache_root=Path(cache_root), progress=False
    )
    return str(folder), {k: hashlib.sha256((folder / k).read_bytes()).hexdigest() for k in BLOBS}


def expected_digests() -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in BLOBS.items()}


def test_two_threads_share_one_download(tmp_path: Path) -> None:
    log = tmp_path / "reads.log"
    results: list[tuple[str, dict[str, str]]] = []

    def run() -> None:
        results.append(fetch_in_child(str(tmp_path / "cache"), str(log)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2
    assert results[0] == results[1]
    assert results[0][1] == expected_digests()
    assert sorted(log.read_text().splitlines()) == sorted(f"{k} 0" for k in BLOBS)
    assert len(list((tmp_path / "cache" / OBJECTS).iterdir())) == 1


def test_two_processes_share_one_download(tmp_path: Path) -> None:
    log = tmp_path / "reads.log"
    cache = tmp_path / "cache"
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(fetch_in_child, [(str(cache), str(log))] * 2)
    assert results[0] == results[1]
    assert results[0][1] == expected_digests()
    assert sorted(log.read_text().splitlines()) == sorted(f"{k} 0" for k in BLOBS)
    entries = list_entries(cache)
    assert [(e.kind, e.complete) for e in entries] == [(OBJECTS, True)]
