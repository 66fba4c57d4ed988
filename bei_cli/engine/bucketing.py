"""Length-bucketed batch shapes: which (rows, width) a padded batch runs at.

A GPU runs a batch fastest at a shape it has seen before: cuBLAS and SDPA pick their kernels
per shape, the caching allocator reuses blocks of the same size, and a CUDA graph replays only
the exact shape it was captured at. So on CUDA the torch engine rounds a batch's width (its
longest sequence) up to a bucket, and -- for the small shapes where kernel launches, not
arithmetic, dominate (short requests) -- its row count too, to the shapes whose graphs were
captured at load. The extra cells are padding: masked out of attention, pooling and outputs,
so results equal the unbucketed run within floating-point rounding (tests hold them equal).

On the CPU nothing is bucketed by default: padding there is pure extra work.

Pure: numpy only, no torch, so the policy is tested without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from bei_cli.engine.base import IntArray, Output

# Widths whose short batches get CUDA graphs; 5-token requests (7 with [CLS]/[SEP]) land in 8.
GRAPH_WIDTHS = (8, 16, 32, 64)
# Row counts graphs are captured at: powers of two, capped by the engine's max_batch_size.
GRAPH_ROWS = (1, 2, 4, 8, 16, 32, 64, 128)
# Above this many padded tokens a batch's arithmetic hides launch overhead: no graph, no row
# padding (it would only add work).
GRAPH_MAX_TOKENS = 4096
# Eager CUDA batches are padded to a multiple of 8 tokens (tensor-core tile alignment; at most
# 7 extra tokens a row).
CUDA_WIDTH_MULTIPLE = 8


@dataclass(frozen=True)
class PaddedShape:
    rows: int  # sequences the model runs, real ones first, then filler rows
    width: int  # tokens per row, padding included
    graph: bool  # a captured CUDA graph of exactly this shape may replay it


@dataclass(frozen=True)
class ShapePolicy:
    """How a batch of `n` sequences, the longest `longest` tokens, is padded before it runs."""

    width_multiple: int = 1  # 1: the batch's own longest sequence (no width bucketing)
    graph_widths: tuple[int, ...] = ()  # () : no graph shapes, rows are never padded
    graph_rows: tuple[int, ...] = ()
    max_width: int | None = None  # the engine's max_seq_len: buckets never exceed it
    graph_max_tokens: int = GRAPH_MAX_TOKENS  # lowered to the largest shape actually captured

    @classmethod
    def exact(cls) -> ShapePolicy:
        """The CPU default: every batch at its own shape."""
        return cls()

    @classmethod
    def cuda(cls, max_batch_size: int, max_seq_len: int, *, graphs: bool = True) -> ShapePolicy:
        """Widths to multiples of 8; with `graphs`, the small shapes to captured buckets."""
        if not graphs:
            return cls(width_multiple=CUDA_WIDTH_MULTIPLE, max_width=max_seq_len)
        rows = bucket_rows(max_batch_size)
        widths = tuple(w for w in GRAPH_WIDTHS if w <= max_seq_len)
        return cls(CUDA_WIDTH_MULTIPLE, widths, rows, max_width=max_seq_len)

    def without_graphs(self) -> ShapePolicy:
        return replace(self, graph_widths=(), graph_rows=())

    def with_captured(self, shapes: set[tuple[int, int]]) -> ShapePolicy:
        """The policy for the (rows, width) shapes a capture kept: none -> no graphs; else graph
        shapes up to the largest kept one (capture drops the largest first)."""
        if not shapes:
            return self.without_graphs()
        return replace(self, graph_max_tokens=max(rows * width for rows, width in shapes))

    def graph_shapes(self) -> tuple[PaddedShape, ...]:
        """Every shape a graph is captured at, the largest first (the memory pool then grows
        once, and smaller captures reuse it)."""
        shapes = [
            PaddedShape(rows, width, graph=True)
            for width in self.graph_widths
            for rows in self.graph_rows
            if rows * width <= self.graph_max_tokens
        ]
        return tuple(sorted(shapes, key=lambda s: (s.rows * s.width, s.width), reverse=True))

    def shape_for(self, n: int, longest: int) -> PaddedShape:
        graph = self._graph_shape(n, longest)
        if graph is not None:
            return graph
        width = round_up(longest, self.width_multiple)
        if self.max_width is not None:
            width = max(longest, min(width, self.max_width))
        return PaddedShape(rows=n, width=width, graph=False)

    def _graph_shape(self, n: int, longest: int) -> PaddedShape | None:
        width = next((w for w in self.graph_widths if w >= longest), None)
        rows = next((r for r in self.graph_rows if r >= n), None)
        if width is None or rows is None or rows * width > self.graph_max_tokens:
            return None
        return PaddedShape(rows=rows, width=width, graph=True)


def bucket_rows(max_batch_size: int) -> tuple[int, ...]:
    """GRAPH_ROWS up to max_batch_size, plus max_batch_size itself if it is no power of two."""
    rows = [r for r in GRAPH_ROWS if r < max_batch_size]
    return (*rows, max_batch_size) if max_batch_size <= GRAPH_ROWS[-1] else tuple(rows)


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def pad_to(
    shape: PaddedShape,
    ids: IntArray,
    mask: IntArray,
    types: IntArray,
    *,
    pad_id: int,
    side: str,
) -> tuple[IntArray, IntArray, IntArray]:
    """Widen a padded (n, w) batch to `shape`: more padding on `side`, then filler rows.

    A filler row is one attended pad token (an all-masked row would make attention's softmax
    divide by zero); its outputs are dropped by `trim_output`.
    """
    n, width = ids.shape
    if shape.rows < n or shape.width < width:
        raise ValueError(f"shape {shape} is smaller than the batch ({n}, {width})")
    if (shape.rows, shape.width) == (n, width):
        return ids, mask, types
    out_ids = np.full((shape.rows, shape.width), pad_id, dtype=np.int64)
    out_mask = np.zeros((shape.rows, shape.width), dtype=np.int64)
    out_types = np.zeros((shape.rows, shape.width), dtype=np.int64)
    cols = slice(shape.width - width, shape.width) if side == "left" else slice(0, width)
    out_ids[:n, cols], out_mask[:n, cols], out_types[:n, cols] = ids, mask, types
    filler = shape.width - 1 if side == "left" else 0
    out_mask[n:, filler] = 1
    return out_ids, out_mask, out_types


def trim_output(output: Output, n: int) -> Output:
    """The first `n` rows of an Output (filler rows dropped)."""

    values = {f.name: getattr(output, f.name) for f in fields(output)}
    return Output(**{name: None if v is None else v[:n] for name, v in values.items()})
