"""Safe extraction of a checkpoint archive (.tar, .tar.gz/.tgz, .zip) into a directory.

Every member is checked before anything is written: no absolute names, no `..`, no device files
or FIFOs, links only to places inside the target, and limits on the total size and the number of
members. Writes go through a physical check too (realpath inside the target), so a link planted
by an earlier member cannot redirect a later one. A bad member raises UnsupportedModelError
naming it; the caller extracts into a staging directory, so nothing half-extracted is used.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from bei_cli.errors import UnsupportedModelError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
DEFAULT_MAX_BYTES = 50 * 1024**3
DEFAULT_MAX_FILES = 100_000
CHUNK = 1 << 20

Kind = Literal["file", "dir", "symlink", "hardlink"]


@dataclass(frozen=True)
class ExtractLimits:
    max_bytes: int = DEFAULT_MAX_BYTES  # total size of the extracted files
    max_files: int = DEFAULT_MAX_FILES  # members of any kind


@dataclass(frozen=True)
class Member:
    name: str
    kind: Kind
    size: int
    link: str  # symlink target (relative to the link) / hardlink target (relative to the root)
    open: Callable[[], IO[bytes]]


def archive_suffix(name: str) -> str | None:
    lowered = name.lower()
    return next((s for s in ARCHIVE_SUFFIXES if lowered.endswith(s)), None)


def extract_archive(
    archive: Path, target: Path, *, label: str, limits: ExtractLimits | None = None
) -> None:
    """Extract `archive` into the (empty) directory `target`; `label` names it in errors."""
    limits = limits or ExtractLimits()
    target.mkdir(parents=True, exist_ok=True)
    root = Path(os.path.realpath(target))
    opened = _zip_members if zipfile.is_zipfile(archive) else _tar_members
    try:
        with opened(archive, label) as members:
            written = 0
            for member in _checked(members, label, limits):
                written += _write(member, root, label)
                if written > limits.max_bytes:
                    raise _bad(label, f"extracts to more than {limits.max_bytes} bytes (the limit)")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise _bad(label, f"is damaged ({exc})") from exc


@contextmanager
def _tar_members(archive: Path, label: str) -> Iterator[list[Member]]:
    if not tarfile.is_tarfile(archive):
        raise _bad(label, "is neither a zip nor a (gzipped) tar archive")
    with tarfile.open(archive, "r:*") as tar:
        yield [
            Member(
                name=info.name,
                kind=_tar_kind(info, label),
                size=info.size if info.isfile() else 0,
                link=info.linkname,
                open=partial(_tar_file, tar, info),
            )
            for info in tar
        ]


def _tar_file(tar: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    file = tar.extractfile(info)
    if file is None:
        raise UnsupportedModelError(f"cannot read archive member {info.name!r}")
    return file


def _tar_kind(info: tarfile.TarInfo, label: str) -> Kind:
    if info.isfile():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym():
        return "symlink"
    if info.islnk():
        return "hardlink"
    raise _bad(label, f"member {info.name!r} is a device file or FIFO")


@contextmanager
def _zip_members(archive: Path, label: str) -> Iterator[list[Member]]:
    with zipfile.ZipFile(archive) as bundle:
        yield [_zip_member(bundle, info, label) for info in bundle.infolist()]


def _zip_member(bundle: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> Member:
    mode = info.external_attr >> 16
    kind: Kind = "dir" if info.is_dir() else "file"
    if stat.S_ISLNK(mode):
        kind = "symlink"
    elif stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: no type recorded
        raise _bad(label, f"member {info.filename!r} is a device file or FIFO")
    return Member(
        name=info.filename,
        kind=kind,
        size=info.file_size if kind == "file" else 0,
        link=bundle.read(info).decode("utf-8", "replace") if kind == "symlink" else "",
        open=partial(bundle.open, info),
    )


def _checked(members: list[Member], label: str, limits: ExtractLimits) -> list[Member]:
    """The same members, after the checks that need no disk: names, links, limits."""
    if len(members) > limits.max_files:
        raise _bad(label, f"has {len(members)} members, more than the limit of {limits.max_files}")
    total = sum(m.size for m in members)
    if total > limits.max_bytes:
        raise _bad(label, f"would extract {total} bytes, more than the limit of {limits.max_bytes}")
    for member in members:
        inside = _inside_name(member.name, label)
        if member.kind == "symlink":
            _check_link(member, PurePosixPath(inside).parent / member.link, label)
        elif member.kind == "hardlink":
            _check_link(member, PurePosixPath(member.link), label)
    return members


def _inside_name(name: str, label: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        raise _bad(label, f"member {name!r} has an absolute path")
    if ".." in path.parts:
        raise _bad(label, f"member {name!r} has a '..' component (path traversal)")
    return path.as_posix()


def _check_link(member: Member, target: PurePosixPath, label: str) -> None:
    if PurePosixPath(member.link).is_absolute() or _escapes(target):
        raise _bad(
            label, f"member {member.name!r} links to {member.link!r}, outside the checkpoint"
        )


def _escapes(path: PurePosixPath) -> bool:
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return True
    return False


def _write(member: Member, root: Path, label: str) -> int:
    """Write one member; returns the bytes it added."""
    name = _inside_name(member.name, label)
    dest = root / name
    if name in ("", "."):
        return 0
    if member.kind == "dir":
        dest.mkdir(parents=True, exist_ok=True)
        _physically_inside(dest, root, member, label)
        return 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    _physically_inside(dest.parent, root, member, label)
    if dest.is_symlink() or dest.exists():
        raise _bad(label, f"member {member.name!r} appears twice")
    if member.kind == "symlink":
        os.symlink(member.link, dest)
        if not _resolves_inside(dest, root):
            dest.unlink()
            raise _bad(
                label, f"member {member.name!r} links to {member.link!r}, which resolves outside"
            )
        return 0
    if member.kind == "hardlink":
        source = root / member.link
        _physically_inside(source, root, member, label)
        if not source.is_file():
            raise _bad(label, f"member {member.name!r} links to {member.link!r}, not a file")
        shutil.copyfile(source, dest)
        return dest.stat().st_size
    return _copy_exact(member, dest, label)


def _copy_exact(member: Member, dest: Path, label: str) -> int:
    # Zip sizes come from the central directory and may lie; never write more than it says.
    written = 0
    with member.open() as source, dest.open("wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > member.size:
                raise _bad(label, f"member {member.name!r} is larger than its header says")
            out.write(chunk)
    dest.chmod(0o644)
    return written


def _physically_inside(path: Path, root: Path, member: Member, label: str) -> None:
    if not _resolves_inside(path, root):
        raise _bad(label, f"member {member.name!r} would be written outside the checkpoint")


def _resolves_inside(path: Path, root: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == root or root in real.parents


def _bad(label: str, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"the archive {label} {why}; bei refuses to extract it.",
        hint="Re-create the archive from the checkpoint directory itself, e.g. "
        "`tar czf model.tar.gz -C model .` (relative paths, no links out of it).",
    )
