"""One engine batch: the queued items in, one row per item (or the batch's failure) out, with
the statistics the observers record. Shared by the in-process batcher and the engine process."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bei_cli.engine.base import Batch, Engine, FloatArray, Output
from bei_cli.errors import EngineError
from bei_cli.runtime.work_queue import QueuedItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchRun:
    rows: list[FloatArray] | None  # None: the batch failed (logged here)
    started: float  # time.monotonic()
    seconds: float  # engine time
    size: int
    tokens: int  # real tokens
    padded_tokens: int  # what it cost in the engine's cost model

    @property
    def stats(self) -> tuple[int, int, int, float]:
        """observe_batch's arguments."""
        return self.size, self.tokens, self.padded_tokens, self.seconds


def output_rows(
    output: Output, count: int, per_token: Sequence[bool] | None = None
) -> list[FloatArray]:
    """Split an engine Output into one row per sequence, whatever the task; a sequence flagged
    in `per_token` gets its token states instead of its pooled row."""
    present = [f for f in (output.embeddings, output.scores, output.token_scores) if f is not None]
    if len(present) != 1 or len(present[0]) != count:
        raise EngineError(f"The engine returned a malformed output for a batch of {count}.")
    rows = list(present[0])
    states = output.token_embeddings
    for i in [i for i, wanted in enumerate(per_token or ()) if wanted]:
        row = None if states is None or len(states) != count else states[i]
        if row is None:
            raise EngineError(f"The engine returned no token states for a batch of {count}.")
        rows[i] = row
    return rows


def batch_of(items: Sequence[QueuedItem[Any]]) -> Batch:
    lengths = np.fromiter((len(item.ids) for item in items), dtype=np.int64, count=len(items))
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate([np.asarray(item.ids, dtype=np.int64) for item in items])
    types = None
    if any(item.type_ids is not None for item in items):
        types = np.concatenate(
            [
                np.asarray(item.type_ids, dtype=np.int64)
                if item.type_ids is not None
                else np.zeros(len(item.ids), dtype=np.int64)
                for item in items
            ]
        )
    flags = None
    if any(item.per_token for item in items):
        flags = np.asarray([item.per_token for item in items], dtype=np.bool_)
    return Batch(input_ids=ids, offsets=offsets, token_type_ids=types, per_token=flags)


def run_batch(engine: Engine, items: Sequence[QueuedItem[Any]]) -> BatchRun:
    """Run one batch; an exception fails this batch only (it is logged, never re-raised)."""
    started = time.monotonic()
    rows: list[FloatArray] | None = None
    try:
        flags = [item.per_token for item in items]
        rows = output_rows(engine.run(batch_of(items)), len(items), flags)
    except Exception:
        log.exception("engine failed on a batch of %d sequences", len(items))
    seconds = time.monotonic() - started
    lengths = [len(item.ids) for item in items]
    padded = len(items) * max(lengths) if engine.info.padded else sum(lengths)
    return BatchRun(rows, started, seconds, len(items), sum(lengths), padded)


# Batch statistics as observe_batch takes them: (size, tokens, padded tokens, seconds).
BatchStats = tuple[int, int, int, float]
# The calibration's input length: long enough that per-token cost shows, short enough that a
# 32k-token model on a CPU does not spend minutes timing itself before it serves.
CALIBRATION_TOKENS = 256


def calibrate(engine: Engine) -> list[BatchStats]:
    """Time the engine at two batch shapes before it serves, so the batch-cost fit can tell fixed
    from per-token cost from the first request on (one shape cannot: a burst of long inputs was
    then costed at what the small warm-up batches took, and all of it admitted). Returns a
    warm-up batch (one-off costs; the fit skips the first batch) and one input of
    CALIBRATION_TOKENS (or the model's maximum, if shorter) alone and two together, each timed
    on its second run (the first may capture graphs)."""
    info = engine.info
    length = min(info.max_seq_len, CALIBRATION_TOKENS)
    shapes = [(1, min(8, length)), (1, length)]
    if info.max_batch_size >= 2 and 2 * length <= info.max_batch_tokens:
        shapes.append((2, length))
    stats: list[BatchStats] = []
    for i, (size, tokens) in enumerate(shapes):
        batch = Batch.from_sequences([[1] * tokens] * size)
        for _ in range(1 if i == 0 else 2):
            started = time.monotonic()
            engine.run(batch)
            seconds = time.monotonic() - started
        stats.append((size, size * tokens, size * tokens, seconds))
    return stats


def batch_failure() -> EngineError:
    return EngineError(
        "The model failed to run the batch holding this input.",
        hint="The error is logged on the server; retrying may succeed.",
    )
