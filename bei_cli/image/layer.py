"""Deterministic image layers: a sorted, normalized tar, gzip'd with no timestamp.

A layer is described as a tuple of `LayerEntry` values (pure data: where the entry lands in the
image, what it holds, its mode and owner) and then written once by `write_layer`, which streams
the tar through two sha256 counters -- the uncompressed one is the config's `diff_id`, the
compressed one the blob digest -- into a file. Same entries, same bytes: entries are sorted by
path, every mtime is one value (`SOURCE_DATE_EPOCH` or a constant, chosen by the caller), no
user/group names, PAX headers only where a field does not fit ustar (never for times), and gzip
carries mtime 0 and no file name.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

GZIP_LEVEL = 6  # the usual registry trade-off; zlib output is stable for one level
CHUNK = 1 << 20
FILE_MODE = 0o644
EXEC_MODE = 0o755
DIR_MODE = 0o755
# Never packed from a root filesystem: the container runtime mounts its own.
RUNTIME_MOUNTS = frozenset({"dev", "proc", "sys", "run"})


@dataclass(frozen=True)
class LayerEntry:
    """One tar member. Exactly one of `source`, `data`, `link` is set for files and symlinks;
    none for directories. `hardlink` names an earlier member with the same contents."""

    path: str  # inside the image, without the leading "/", e.g. "opt/bei/lib/bei_cli/errors.py"
    kind: str = "file"  # "file", "dir", "symlink", "hardlink"
    mode: int = FILE_MODE
    uid: int = 0
    gid: int = 0
    source: Path | None = None
    data: bytes | None = field(default=None, repr=False)
    link: str | None = None


@dataclass(frozen=True)
class Layer:
    """A written layer blob: `path` holds the gzip'd tar."""

    path: Path
    digest: str  # "sha256:..." of the compressed blob
    diff_id: str  # "sha256:..." of the uncompressed tar
    size: int  # compressed bytes
    media_type: str = "application/vnd.oci.image.layer.v1.tar+gzip"


class _Counting:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, sink: BinaryIO | None) -> None:
        self.sink = sink
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        if self.sink is not None:
            self.sink.write(data)
        return len(data)

    def flush(self) -> None:
        if self.sink is not None:
            self.sink.flush()


def with_parents(entries: Iterable[LayerEntry]) -> tuple[LayerEntry, ...]:
    """The entries plus a root-owned 0755 directory for every missing parent, sorted by path."""
    by_path = {e.path: e for e in entries}
    for path in list(by_path):
        for parent in PurePosixPath(path).parents:
            key = parent.as_posix()
            if key != "." and key not in by_path:
                by_path[key] = LayerEntry(path=key, kind="dir", mode=DIR_MODE)
    return tuple(by_path[p] for p in sorted(by_path))


def file_entry(path: str, source: Path) -> LayerEntry:
    """A regular file with a normalized mode: 0755 if any execute bit is set, else 0644."""
    executable = source.stat().st_mode & 0o111
    return LayerEntry(path=path, source=source, mode=EXEC_MODE if executable else FILE_MODE)


def tree_entries(root: Path, *, skip: frozenset[str] = RUNTIME_MOUNTS) -> Iterator[LayerEntry]:
    """Every member of a root filesystem, keeping its real mode and owner (setuid bits and the
    runtime user's home matter there). Hard links become tar hard links to the first path in
    sorted order; sockets, fifos and device nodes are left out (runtimes create /dev)."""
    seen: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        top = _tree_entry(here, rel_dir, seen) if rel_dir != "." else None
        if top is not None:
            yield top
        if rel_dir in skip:
            dirnames[:] = []
            continue
        for name in sorted(filenames) + [d for d in dirnames if (here / d).is_symlink()]:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            entry = _tree_entry(here / name, rel, seen)
            if entry is not None:
                yield entry


def _tree_entry(path: Path, rel: str, seen: dict[tuple[int, int], str]) -> LayerEntry | None:
    st = path.lstat()
    mode = stat.S_IMODE(st.st_mode)
    uid, gid = st.st_uid, st.st_gid
    if stat.S_ISLNK(st.st_mode):
        return LayerEntry(
            path=rel, kind="symlink", mode=0o777, link=os.readlink(path), uid=uid, gid=gid
        )
    if stat.S_ISDIR(st.st_mode):
        return LayerEntry(path=rel, kind="dir", mode=mode, uid=uid, gid=gid)
    if not stat.S_ISREG(st.st_mode):
        return None
    if st.st_nlink > 1:
        key = (st.st_dev, st.st_ino)
        if key in seen:
            return LayerEntry(
                path=rel, kind="hardlink", mode=mode, link=seen[key], uid=uid, gid=gid
            )
        seen[key] = rel
    return LayerEntry(path=rel, source=path, mode=mode, uid=uid, gid=gid)


def write_layer(entries: Iterable[LayerEntry], dest: Path, *, mtime: int) -> Layer:
    """Write the entries (in the order given; use `with_parents` or a sorted walk) as a
    gzip'd tar at `dest`."""
    with dest.open("wb") as out:
        compressed = _Counting(out)
        with gzip.GzipFile(
            filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=GZIP_LEVEL
        ) as zipped:
            raw = _Counting(zipped)  # type: ignore[arg-type]
            write_tar(entries, raw, mtime=mtime)
    return Layer(
        path=dest,
        digest=f"sha256:{compressed.sha.hexdigest()}",
        diff_id=f"sha256:{raw.sha.hexdigest()}",
        size=compressed.size,
    )


def write_tar(entries: Iterable[LayerEntry], sink: BinaryIO | _Counting, *, mtime: int) -> None:
    """Entries as a tar stream into `sink`, every member with the same mtime and no names."""
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for entry in entries:
            info = _tar_info(entry, mtime)
            if entry.kind != "file":
                tar.addfile(info)
            elif entry.data is not None:
                tar.addfile(info, _BytesReader(entry.data))
            else:
                assert entry.source is not None
                with entry.source.open("rb") as handle:
                    tar.addfile(info, handle)


def _tar_info(entry: LayerEntry, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path + ("/" if entry.kind == "dir" else ""))
    info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, mtime
    info.uname = info.gname = ""
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, entry.link or ""
    elif entry.kind == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, entry.link or ""
    elif entry.data is not None:
        info.size = len(entry.data)
    else:
        assert entry.source is not None
        info.size = entry.source.stat().st_size
    return info


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.pos + size
        chunk = self.data[self.pos : end]
        self.pos += len(chunk)
        return chunk
