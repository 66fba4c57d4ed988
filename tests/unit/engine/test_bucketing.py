"""The shape policy (pure): which (rows, width) a batch runs at, padding and trimming."""

from __future__ import annotations

import numpy as np
import pytest

from bei_cli.engine.base import Batch, Output
from bei_cli.engine.bucketing import (
    CUDA_WIDTH_MULTIPLE,
    GRAPH_MAX_TOKENS,
    PaddedShape,
    ShapePolicy,
    bucket_rows,
    pad_to,
    trim_output,
)

CUDA = ShapePolicy.cuda(max_batch_size=128, max_seq_len=512)


def test_the_cpu_policy_keeps_every_batch_at_its_own_shape() -> None:
    policy = ShapePolicy.exact()
    for n, longest in [(1, 1), (3, 7), (128, 512), (5, 333)]:
        assert policy.shape_for(n, longest) == PaddedShape(n, longest, graph=False)
    assert policy.graph_shapes() == ()


@pytest.mark.parametrize(
    ("n", "longest", "expected"),
    [
        (1, 7, PaddedShape(1, 8, graph=True)),  # a 5-token request ([CLS] + 5 + [SEP])
        (3, 7, PaddedShape(4, 8, graph=True)),
        (33, 9, PaddedShape(64, 16, graph=True)),
        (128, 32, PaddedShape(128, 32, graph=True)),  # 4096 tokens: the last graph shape
        (65, 64, PaddedShape(65, 64, graph=False)),  # 128 x 64 > 4096: eager, rows unpadded
        (32, 500, PaddedShape(32, 504, graph=False)),  # width to a multiple of 8
        (2, 65, PaddedShape(2, 72, graph=False)),  # past the widest graph width
    ],
)
def test_cuda_policy_buckets(n: int, longest: int, expected: PaddedShape) -> None:
    assert CUDA.shape_for(n, longest) == expected


def test_buckets_never_exceed_max_seq_len() -> None:
    policy = ShapePolicy.cuda(max_batch_size=8, max_seq_len=510)
    assert policy.shape_for(2, 509) == PaddedShape(2, 510, graph=False)
    assert policy.shape_for(2, 510) == PaddedShape(2, 510, graph=False)
    small = ShapePolicy.cuda(max_batch_size=8, max_seq_len=20)
    assert small.graph_widths == (8, 16)
    assert small.shape_for(1, 19) == PaddedShape(1, 20, graph=False)


def test_graph_rows_follow_max_batch_size() -> None:
    assert bucket_rows(128) == (1, 2, 4, 8, 16, 32, 64, 128)
    assert bucket_rows(100) == (1, 2, 4, 8, 16, 32, 64, 100)
    assert bucket_rows(1) == (1,)
    assert ShapePolicy.cuda(100, 512).shape_for(70, 5) == PaddedShape(100, 8, graph=True)


def test_graph_shapes_are_within_the_token_limit_largest_first() -> None:
    shapes = CUDA.graph_shapes()
    sizes = [s.rows * s.width for s in shapes]
    assert sizes == sorted(sizes, reverse=True)
    assert max(sizes) <= GRAPH_MAX_TOKENS
    assert all(s.graph for s in shapes)
    # every shape a graph-eligible batch maps to was captured
    for n in range(1, 129):
        for longest in range(1, 65):
            shape = CUDA.shape_for(n, longest)
            assert (shape in shapes) == shape.graph, (n, longest)


def test_without_graphs_keeps_width_buckets_and_real_rows() -> None:
    eager = CUDA.without_graphs()
    assert eager.graph_shapes() == ()
    assert eager.shape_for(3, 7) == PaddedShape(3, CUDA_WIDTH_MULTIPLE, graph=False)
    assert ShapePolicy.cuda(128, 512, graphs=False) == eager


@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_to_adds_masked_padding_and_filler_rows(side: str) -> None:
    batch = Batch.from_sequences([[5, 6, 7], [8]], [[0, 0, 1], [1]])
    ids, mask, types = batch.padded(pad_id=0, side=side)
    out_ids, out_mask, out_types = pad_to(
        PaddedShape(4, 6, graph=True), ids, mask, types, pad_id=0, side=side
    )
    assert out_ids.shape == out_mask.shape == out_types.shape == (4, 6)
    # the real rows keep their tokens in order, padded on their own side
    for row, seq in enumerate([[5, 6, 7], [8]]):
        assert out_ids[row][out_mask[row] == 1].tolist() == seq
        real = np.flatnonzero(out_mask[row])
        assert (real[-1] == 5) if side == "left" else (real[0] == 0)
    assert out_types[0][out_mask[0] == 1].tolist() == [0, 0, 1]
    # filler rows: exactly one attended pad token, on the padding side's edge
    assert out_mask[2:].sum(axis=1).tolist() == [1, 1]
    assert (out_ids[2:] == 0).all()
    assert out_mask[2:, 5 if side == "left" else 0].tolist() == [1, 1]
    assert out_mask[:2].sum() == mask.sum()


def test_pad_to_the_same_shape_returns_the_arrays_and_refuses_smaller() -> None:
    ids, mask, types = Batch.from_sequences([[1, 2, 3]]).padded(0)
    assert pad_to(PaddedShape(1, 3, False), ids, mask, types, pad_id=0, side="right")[0] is ids
    with pytest.raises(ValueError, match="smaller"):
        pad_to(PaddedShape(1, 2, False), ids, mask, types, pad_id=0, side="right")


def test_trim_output_drops_filler_rows_of_every_task() -> None:
    rows = np.arange(12, dtype=np.float32).reshape(4, 3)
    tokens = tuple(np.ones((i + 1, 2), dtype=np.float32) for i in range(4))
    assert trim_output(Output(embeddings=rows), 2).embeddings.tolist() == rows[:2].tolist()  # type: ignore[union-attr]
    assert trim_output(Output(scores=rows), 3).scores.shape == (3, 3)  # type: ignore[union-attr]
    trimmed = trim_output(Output(token_scores=tokens), 2).token_scores
    assert trimmed is not None and [t.shape[0] for t in trimmed] == [1, 2]


def test_a_partial_capture_limits_graph_shapes_to_the_largest_kept() -> None:
    kept = {(s.rows, s.width) for s in CUDA.graph_shapes() if s.rows * s.width <= 512}
    policy = CUDA.with_captured(kept)
    assert policy.shape_for(64, 8) == PaddedShape(64, 8, graph=True)  # 512 tokens: kept
    assert policy.shape_for(65, 8) == PaddedShape(65, 8, graph=False)  # 1024: eager, real rows
    assert {(s.rows, s.width) for s in policy.graph_shapes()} == kept
    assert CUDA.with_captured(set()) == CUDA.without_graphs()
