"""The cache's directories on disk, and the one way an entry becomes visible.

    <root>/objects/<key>/      a complete download snapshot (the files + .bei-complete.json)
    <root>/extracted/<key>/    a complete extracted archive (same marker)
    <root>/partial/<key>/      an entry being built: resumable files + .bei-pending.json
    <root>/locks/<key>.lock    held (flock) by whoever builds <key>
    <root>/trash/              entries being removed (renamed here first, then deleted)

An entry is built in partial/<key> under the lock, gets its marker last, and is renamed into
place in one step, so a directory under objects/ or extracted/ without the marker is never used.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MARKER = ".bei-complete.json"  # written last: the entry is complete
PENDING = ".bei-pending.json"  # written first into partial/<key>: what is being built
OBJECTS = "objects"
EXTRACTED = "extracted"
PARTIAL = "partial"
COMPLETE_KINDS = (OBJECTS, EXTRACTED)
RESERVED_NAMES = frozenset({MARKER, PENDING})


@dataclass(frozen=True)
class CacheEntry:
    """One entry as `bei cache ls` shows it."""

    key: str
    kind: str  # objects | extracted | partial
    path: Path
    source: str
    size: int
    files: int
    complete: bool
    last_used: float  # epoch seconds: the marker's mtime (touched on every reuse)


def is_complete(path: Path) -> bool:
    return (path / MARKER).is_file()


def mark_used(path: Path) -> None:
    try:
        os.utime(path / MARKER)
    except OSError:  # a read-only cache is still usable
        log.debug("cannot update last-used time of %s", path)


@contextmanager
def entry_lock(root: Path, key: str, *, wait: bool = True) -> Iterator[bool]:
    """Hold the exclusive lock of entry `key`; yields False (without waiting) when `wait` is
    off and someone else holds it. flock locks are per open file, so threads exclude too."""
    locks = root / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with (locks / f"{key}.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            log.info("waiting for another bei process that is fetching cache entry %s", key)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_entry(
    root: Path, kind: str, key: str, source: str, build: Callable[[Path], None]
) -> Path:
    """The complete entry `<root>/<kind>/<key>`: reused when complete, else built by
    `build(staging)` under the entry's lock (a concurrent caller waits, then reuses it)."""
    final = root / kind / key
    if is_complete(final):
        mark_used(final)
        return final
    with entry_lock(root, key):
        if is_complete(final):  # built by whoever held the lock before us
            mark_used(final)
            return final
        if final.exists():
            _discard(root, final)  # no marker: not ours to trust
        staging = root / PARTIAL / key
        staging.mkdir(parents=True, exist_ok=True)
        _write_json(staging / PENDING, {"source": source, "kind": kind, "started": time.time()})
        build(staging)
        (staging / PENDING).unlink()
        size, files = _measure(staging)
        marker = {"source": source, "kind": kind, "bytes": size, "files": files}
        _write_json(staging / MARKER, marker)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, final)
        _fsync_dir(final.parent)
    return final


def latest_complete(root: Path, kind: str, source: str) -> Path | None:
    """The most recently used complete entry of `source` (for offline use), if any."""
    found = [e for e in list_entries(root) if e.complete and e.kind == kind and e.source == source]
    return max(found, key=lambda e: e.last_used).path if found else None


def list_entries(root: Path) -> list[CacheEntry]:
    entries = []
    for kind in (*COMPLETE_KINDS, PARTIAL):
        base = root / kind
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.iterdir() if p.is_dir()):
            entries.append(_entry(kind, path))
    return entries


def remove_entry(root: Path, key: str, path: Path) -> bool:
    """Remove the entry `key` at `path` unless someone is building it right now (then False)."""
    with entry_lock(root, key, wait=False) as locked:
        if not locked:
            return False
        if path.exists():
            _discard(root, path)
    return True


def matching_entries(
    entries: list[CacheEntry], *, key: str | None = None, source: str | None = None
) -> list[CacheEntry]:
    """Entries whose key starts with `key` (a unique prefix is enough), or of `source`."""
    if key is not None:
        return [e for e in entries if e.key.startswith(key)]
    return [e for e in entries if e.source == source]


def prunable_entries(
    entries: list[CacheEntry], *, now: float, older_than_days: float | None, partial: bool
) -> list[CacheEntry]:
    """Complete entries unused for longer than `older_than_days`; partial ones if `partial`."""
    cutoff = None if older_than_days is None else now - older_than_days * 86400
    return [
        e
        for e in entries
        if (partial and not e.complete) or (cutoff is not None and e.last_used < cutoff)
    ]


def _entry(kind: str, path: Path) -> CacheEntry:
    complete = kind != PARTIAL and is_complete(path)
    info = _read_json(path / (MARKER if complete else PENDING))
    if complete:
        size, files = int(str(info.get("bytes", 0))), int(str(info.get("files", 0)))
        last_used = (path / MARKER).stat().st_mtime
    else:
        size, files = _measure(path)
        last_used = path.stat().st_mtime
    return CacheEntry(
        key=path.name,
        kind=kind,
        path=path,
        source=str(info.get("source", "?")),
        size=size,
        files=files,
        complete=complete,
        last_used=last_used,
    )


def _measure(path: Path) -> tuple[int, int]:
    sizes = [
        p.lstat().st_size
        for p in path.rglob("*")
        if not p.is_dir() or p.is_symlink()
        if p.name not in RESERVED_NAMES
    ]
    return sum(sizes), len(sizes)


def _discard(root: Path, path: Path) -> None:
    """Move `path` out of sight in one rename, then delete it."""
    trash = root / "trash"
    trash.mkdir(parents=True, exist_ok=True)
    doomed = trash / f"{path.name}-{uuid.uuid4().hex[:8]}"
    os.rename(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _write_json(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as file:
        json.dump(data, file, indent=2)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
