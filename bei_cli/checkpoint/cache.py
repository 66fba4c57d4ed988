"""The checkpoint cache for object-store and URL sources: content-keyed, verified, resumable,
safe under concurrent fetches.

An entry's key is the sha256 of the source id and every object's (key, size, version), so a
changed object in the store is a new entry and an entry never goes stale. Each object is
downloaded into partial/<entry>/<object key>, resumed from that file's length with a ranged read,
checked for size and checksum (one retry from zero on a mismatch), and the whole snapshot becomes
visible by one rename (cache_entries.py). Adapters (s3.py, gcs.py, azure.py, remote_url.py) list
their objects, `select_build_objects`, give an `ObjectReader`, and call `fetch_objects`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from bei_cli.checkpoint.cache_entries import OBJECTS, RESERVED_NAMES, build_entry
from bei_cli.checkpoint.checksums import file_checksum, same_checksum
from bei_cli.checkpoint.layout import (
    FAST_TOKENIZER,
    METADATA_PATTERNS,
    MODEL_CONFIG,
    PICKLE_NAMES,
    SAFETENSORS_NAMES,
    pickle_refused,
)
from bei_cli.errors import CheckpointError, UnsupportedModelError

log = logging.getLogger(__name__)

Checksum = tuple[str, str]  # ("md5", hex) | ("crc32c", base64 as GCS gives) | ("sha256", hex)
MODULE_DIR = "[0-9]*_*"  # sentence-transformers module directories: 1_Pooling, 2_Dense, ...
KEY_LENGTH = 32  # hex characters of the sha256 used as the entry's name


@dataclass(frozen=True)
class RemoteObject:
    key: str  # path relative to the checkpoint root, "1_Pooling/config.json"
    size: int
    version: str  # the store's ETag / generation / Last-Modified: part of the key
    checksum: Checksum | None = None


class ObjectReader(Protocol):
    def read(self, obj: RemoteObject, start: int) -> Iterator[bytes]:
        """The object's bytes from offset `start` to its end (a ranged GET when start > 0).
        Raise CheckpointError/CredentialsError (bei_cli.errors) for store failures."""
        ...


def default_cache_root(environ: Mapping[str, str]) -> Path:
    """$BEI_CACHE_DIR, else $XDG_CACHE_HOME/bei, else ~/.cache/bei (explicit environ)."""
    if environ.get("BEI_CACHE_DIR"):
        return Path(environ["BEI_CACHE_DIR"]).expanduser()
    if environ.get("XDG_CACHE_HOME"):
        return Path(environ["XDG_CACHE_HOME"]).expanduser() / "bei"
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".cache" / "bei"


def content_key(source_id: str, objects: Sequence[RemoteObject]) -> str:
    listing = sorted((o.key, o.size, o.version) for o in objects)
    payload = json.dumps({"source": source_id, "objects": listing}, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:KEY_LENGTH]


def fetch_objects(
    source_id: str,
    objects: Sequence[RemoteObject],
    reader: ObjectReader,
    *,
    cache_root: Path,
    progress: bool,
) -> Path:
    """A complete snapshot directory of exactly these objects (content-keyed by source_id +
    every key/size/version), reusing a complete entry, resuming partial downloads, verifying
    size and checksum, renaming atomically, holding a lock so concurrent calls do not
    duplicate or corrupt. Returns the snapshot dir (then validated by layout.py as today)."""
    for obj in objects:
        check_object_key(obj.key, source_id)
    key = content_key(source_id, objects)
    cache_root = cache_root.expanduser().resolve()

    def download_all(staging: Path) -> None:
        with _progress_bar(objects, staging, enabled=progress) as advance:
            for obj in objects:
                _download(obj, staging / obj.key, reader, advance, source_id)

    snapshot = build_entry(cache_root, OBJECTS, key, source_id, download_all)
    log.info("%s is cached in %s", source_id, snapshot)
    return snapshot


def check_object_key(key: str, source_id: str) -> None:
    """Refuse object keys that would land outside the snapshot or on the cache's own files."""
    parts = PurePosixPath(key).parts
    if (
        not key
        or key.startswith("/")
        or "\\" in key
        or any(p in ("", ".", "..") for p in key.split("/"))
        or (len(parts) == 1 and key in RESERVED_NAMES)
    ):
        raise UnsupportedModelError(
            f"{source_id} lists an object named {key!r}, which would be written outside the "
            "checkpoint directory; bei refuses it.",
            hint="Remove or rename the object in the store (keys must be plain relative paths).",
        )


# --- which objects a build needs -----------------------------------------------------------


def select_build_objects(
    objects: Sequence[RemoteObject], *, allow_pickle: bool = True
) -> list[RemoteObject]:
    """Only what a build needs, with layout.py's rules: config, tokenizer, sentence-transformers
    files, and per weight directory (the root, each module dir) safetensors, or pickle weights
    where a directory has no safetensors. With allow_pickle=False such a directory is refused
    here, before anything is downloaded. Raises UnsupportedModelError when config.json,
    tokenizer.json or weights are missing, naming what was found."""
    keys = {o.key for o in objects}
    _require(MODEL_CONFIG, keys)
    _require(FAST_TOKENIZER, keys)
    wanted = {k for k in keys if any(fnmatch(k, p) for p in METADATA_PATTERNS)}
    for directory in _weight_directories(keys):
        in_dir = {k for k in keys if _parent(k) == directory}
        safetensors = _matching(in_dir, SAFETENSORS_NAMES)
        if safetensors:
            wanted |= safetensors
        elif not allow_pickle:
            raise pickle_refused(directory or "the checkpoint root")
        else:
            wanted |= _matching(in_dir, PICKLE_NAMES)
    return [o for o in objects if o.key in wanted]


def _weight_directories(keys: set[str]) -> list[str]:
    weights = (*SAFETENSORS_NAMES, *PICKLE_NAMES)
    found = sorted(
        {
            _parent(k)
            for k in keys
            if (not _parent(k) or fnmatch(_parent(k), MODULE_DIR)) and _matching({k}, weights)
        }
    )
    if "" not in found:
        raise UnsupportedModelError(
            "the checkpoint has no weights at its root (model.safetensors or pytorch_model.bin).",
            hint=_where_hint(keys, "model.safetensors")
            or "Save the model with `save_pretrained` / `SentenceTransformer.save` and upload "
            "the whole directory.",
        )
    return found


def _parent(key: str) -> str:
    return key.rpartition("/")[0]


def _matching(keys: set[str], names: tuple[str, ...]) -> set[str]:
    return {k for k in keys if any(fnmatch(k.rpartition("/")[2], n) for n in names)}


def _require(name: str, keys: set[str]) -> None:
    if name in keys:
        return
    shown = ", ".join(sorted(keys)[:8]) or "nothing"
    raise UnsupportedModelError(
        f"the checkpoint has no {name} at its root (found: {shown}).",
        hint=_where_hint(keys, name)
        or "Point repo at the directory that holds config.json, tokenizer.json and weights.",
    )


def _where_hint(keys: set[str], name: str) -> str | None:
    """Bucket vs prefix confusion: the file exists one or more levels down."""
    deeper = sorted((k for k in keys if k.endswith("/" + name)), key=len)
    if not deeper:
        return None
    return f"It is under {_parent(deeper[0])}/: add that to the repo's path (prefix)."


# --- one object ----------------------------------------------------------------------------


class _Advance(Protocol):
    def __call__(self, done: int) -> None: ...


def _download(
    obj: RemoteObject, path: Path, reader: ObjectReader, advance: _Advance, source_id: str
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in (1, 2):
        _resume(obj, path, reader, advance)
        problem = _verify(obj, path)
        if problem is None:
            return
        log.warning("%s/%s: %s (attempt %d of 2)", source_id, obj.key, problem, attempt)
        advance(-path.stat().st_size)
        path.unlink()
    raise CheckpointError(
        f"corrupted download of {source_id}/{obj.key}: {problem}, twice.",
        hint="The store serves different bytes than it describes (a proxy rewriting or "
        "truncating responses, or the object changing while being read). Check the object and "
        "the network path, then run the fetch again.",
    )


def _resume(obj: RemoteObject, path: Path, reader: ObjectReader, advance: _Advance) -> None:
    start = path.stat().st_size if path.exists() else 0
    if start > obj.size:  # longer than the object: not a prefix of it
        advance(-start)
        path.unlink()
        start = 0
    with path.open("ab") as file:
        if start < obj.size:
            if start:
                log.info("resuming %s at byte %d of %d", obj.key, start, obj.size)
            for chunk in reader.read(obj, start):
                file.write(chunk)
                advance(len(chunk))
        file.flush()
        os.fsync(file.fileno())


def _verify(obj: RemoteObject, path: Path) -> str | None:
    size = path.stat().st_size
    if size != obj.size:
        return f"{size} bytes instead of {obj.size}"
    if obj.checksum is None:
        return None
    algorithm, expected = obj.checksum
    actual = file_checksum(path, algorithm)
    if not same_checksum(algorithm, expected, actual):
        return f"{algorithm} {actual} instead of {expected}"
    return None


@contextmanager
def _progress_bar(
    objects: Sequence[RemoteObject], staging: Path, *, enabled: bool
) -> Iterator[_Advance]:
    """A byte progress bar on stderr over all objects, starting at what is already there."""
    if not enabled:
        yield lambda done: None
        return
    present = sum(
        min((staging / o.key).stat().st_size, o.size) for o in objects if (staging / o.key).exists()
    )
    columns = (
        TextColumn("fetching"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("fetch", total=sum(o.size for o in objects), completed=present)
        yield lambda done: bar.advance(task, done)
