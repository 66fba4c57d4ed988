"""File checksums in the forms object stores report them: md5 hex (S3 ETag, Content-MD5),
crc32c base64 big-endian (GCS), sha256 hex.

crc32c uses google-crc32c (C) when installed, which it is wherever google-cloud-storage is; else a
table-driven pure-python implementation, correct but slow (~10 MB/s), so verification never
silently turns off.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

CHUNK = 1 << 20
_CASTAGNOLI = 0x82F63B78  # the reflected CRC-32C polynomial


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CASTAGNOLI if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


class PurePythonCrc32c:
    """CRC-32C (Castagnoli) as GCS computes it, for machines without google-crc32c."""

    _table = _crc32c_table()

    def __init__(self) -> None:
        self._crc = 0xFFFFFFFF

    def update(self, data: bytes, /) -> None:
        crc, table = self._crc, self._table
        for byte in data:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        self._crc = crc

    def digest(self) -> bytes:
        return (self._crc ^ 0xFFFFFFFF).to_bytes(4, "big")


def _crc32c() -> tuple[Hasher, Callable[[], str]]:
    try:
        import google_crc32c

        fast = google_crc32c.Checksum()
        return fast, lambda: base64.b64encode(fast.digest()).decode()
    except ImportError:
        slow = PurePythonCrc32c()
        return slow, lambda: base64.b64encode(slow.digest()).decode()


def _hashlib(name: str) -> Callable[[], tuple[Hasher, Callable[[], str]]]:
    def make() -> tuple[Hasher, Callable[[], str]]:
        hasher = hashlib.new(name)
        return hasher, hasher.hexdigest

    return make


# Algorithm -> a fresh (hasher, finish-as-the-store-writes-it) pair.
ALGORITHMS: dict[str, Callable[[], tuple[Hasher, Callable[[], str]]]] = {
    "md5": _hashlib("md5"),
    "sha256": _hashlib("sha256"),
    "crc32c": _crc32c,
}


def file_checksum(path: Path, algorithm: str) -> str:
    """`path`'s checksum in the store's notation (md5/sha256 hex, crc32c base64)."""
    hasher, finish = ALGORITHMS[algorithm]()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            hasher.update(chunk)
    return finish()


def same_checksum(algorithm: str, expected: str, actual: str) -> bool:
    # Hex digests may come upper-cased (Content-MD5 converted, some ETags); base64 is exact.
    if algorithm == "crc32c":
        return expected == actual
    return expected.lower() == actual.lower()
