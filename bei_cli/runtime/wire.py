"""The messages between front-end processes and the engine process, as ZeroMQ multipart frames.

Every message is `[kind, header, *buffers]`: `kind` one byte string, `header` a msgpack map of
small values, `buffers` raw numpy memory (token ids in, result rows out) sent and received
without copies (`copy=False` frames, `np.frombuffer` views). The front-end's DEALER socket
carries no identity frame; the engine's ROUTER adds/strips the peer's.

front-end -> engine
  SUBMIT  {first, n, deadline, submitted, types, per_token}  ids(int64), offsets(int64)[, types]
          items first .. first+n-1 of this front-end, one per sequence
  CANCEL  {ids: [...]}                       drop these items if they have not started
engine -> front-end
  RESULT  {ids, shapes, started, stats, q}   rows(float32): the items' rows, concatenated
  FAILED  {ids, error, stats?, q}            error: "engine" | "deadline" | "overloaded" |
                                             "not_ready"
  STATE   {q, dropped}                       queue snapshot [queued, queued_tokens,
                                             batch_tokens]; items of
                                             this front-end dropped because it cancelled them
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt

from bei_cli.engine.base import FloatArray

SUBMIT, CANCEL = b"S", b"C"
RESULT, FAILED, STATE = b"R", b"F", b"Q"

Frames = list[Any]  # bytes, memoryview or zmq.Frame


def pack(kind: bytes, header: dict[str, Any], *buffers: Any) -> Frames:
    return [kind, msgpack.packb(header), *buffers]


def unpack(frame: Any) -> dict[str, Any]:
    raw = frame.buffer if hasattr(frame, "buffer") else frame
    header = msgpack.unpackb(raw)
    if not isinstance(header, dict):
        raise ValueError("malformed message header")
    return header


def as_array(frame: Any, dtype: npt.DTypeLike) -> np.ndarray:
    return np.frombuffer(frame.buffer if hasattr(frame, "buffer") else frame, dtype=dtype)


@dataclass(frozen=True)
class Submit:
    first: int
    sequences: list[npt.NDArray[np.int64]]  # views into the received buffer
    token_types: list[npt.NDArray[np.int64]] | None
    deadline: float | None
    submitted: float
    per_token: bool


def encode_submit(
    first: int,
    sequences: Sequence[Sequence[int]],
    token_types: Sequence[Sequence[int]] | None,
    *,
    deadline: float | None,
    submitted: float,
    per_token: bool,
) -> Frames:
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.fromiter((t for s in sequences for t in s), dtype=np.int64, count=int(offsets[-1]))
    header = {
        "first": first,
        "n": len(sequences),
        "deadline": deadline,
        "submitted": submitted,
        "types": token_types is not None,
        "per_token": per_token,
    }
    frames = pack(SUBMIT, header, ids, offsets)
    if token_types is not None:
        flat = (t for s in token_types for t in s)
        frames.append(np.fromiter(flat, dtype=np.int64, count=int(offsets[-1])))
    return frames


def decode_submit(frames: Frames) -> Submit:
    header = unpack(frames[1])
    ids, offsets = as_array(frames[2], np.int64), as_array(frames[3], np.int64)
    if len(offsets) != header["n"] + 1 or (len(offsets) and offsets[-1] != len(ids)):
        raise ValueError("malformed submit: offsets do not match the ids")
    sequences = [ids[offsets[i] : offsets[i + 1]] for i in range(header["n"])]
    types = None
    if header["types"]:
        flat = as_array(frames[4], np.int64)
        types = [flat[offsets[i] : offsets[i + 1]] for i in range(header["n"])]
    return Submit(
        first=header["first"],
        sequences=sequences,
        token_types=types,
        deadline=header["deadline"],
        submitted=header["submitted"],
        per_token=header["per_token"],
    )


def encode_rows(rows: Sequence[FloatArray]) -> tuple[list[list[int]], np.ndarray]:
    """Rows of any shapes -> their shapes and one contiguous float32 buffer."""
    shapes = [list(row.shape) for row in rows]
    if not rows:
        return shapes, np.zeros(0, np.float32)
    flat = np.concatenate([np.ascontiguousarray(row, dtype=np.float32).ravel() for row in rows])
    return shapes, flat


def decode_rows(shapes: Sequence[Sequence[int]], frame: Any) -> list[FloatArray]:
    """Views into the received buffer, one per row (no copies)."""
    flat = as_array(frame, np.float32)
    rows: list[FloatArray] = []
    start = 0
    for shape in shapes:
        size = int(np.prod(shape)) if shape else 1
        rows.append(flat[start : start + size].reshape(shape))
        start += size
    return rows
