"""The Engine seam: one small protocol every runtime (torch, onnx, fake, a future TensorRT-LLM)
implements, and the ragged Batch/Output values that cross it.

A Batch is ragged -- all token ids concatenated plus offsets -- so both padded kernels (which pad
per batch) and padding-free kernels (which take the concatenation as is) fit without copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from bei_cli.inspect.profile import Task

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class EngineInfo:
    name: str  # "torch", "onnx", "fake"
    task: Task
    dtype: str  # "float32", "bfloat16", ...
    device: str  # "cpu", "cuda:0"
    embedding_dim: int  # pooled output size (embed); number of labels otherwise
    labels: tuple[str, ...]  # id2label order; () for embedders
    max_seq_len: int  # longest single input, tokens
    max_batch_tokens: int  # token budget of one run() call
    max_batch_size: int  # sequences per run() call
    # run() honours Batch.per_token (Output.token_embeddings): embedders of the torch and fake
    # engines. The onnx graph hands back pooled rows only.
    token_embeddings: bool = False
    # The engine's cost model, which the queue budgets by (TEI's backends state theirs): True:
    # it pads a batch to its longest sequence, so n sequences of longest L cost n * L tokens
    # (torch, onnx, and the fake engine standing in for them); False: it runs the concatenation
    # as is and a batch costs the sum of its lengths.
    padded: bool = True


@dataclass(frozen=True)
class Batch:
    input_ids: IntArray  # shape (total_tokens,), all sequences concatenated
    offsets: IntArray  # shape (n + 1,), sequence i is input_ids[offsets[i]:offsets[i + 1]]
    token_type_ids: IntArray | None = None  # same shape as input_ids; None means all zeros
    # shape (n,): sequences whose per-token hidden states are wanted as well (TEI's /embed_all);
    # None: none of them. Requests of both kinds share a batch.
    per_token: BoolArray | None = None

    @classmethod
    def from_sequences(
        cls,
        sequences: list[list[int]],
        token_types: list[list[int]] | None = None,
        per_token: list[bool] | None = None,
    ) -> Batch:
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = [t for s in sequences for t in s]
        ids = np.asarray(flat, dtype=np.int64)
        types = None
        if token_types is not None:
            types = np.asarray([t for s in token_types for t in s], dtype=np.int64)
        wanted = None if per_token is None else np.asarray(per_token, dtype=np.bool_)
        return cls(input_ids=ids, offsets=offsets, token_type_ids=types, per_token=wanted)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> IntArray:
        return np.diff(self.offsets)

    def sequence(self, i: int) -> IntArray:
        return self.input_ids[self.offsets[i] : self.offsets[i + 1]]

    def padded(self, pad_id: int, side: str = "right") -> tuple[IntArray, IntArray, IntArray]:
        """(ids, attention_mask, token_type_ids) as dense (n, max_len) arrays."""
        n, lengths = len(self), self.lengths
        width = int(lengths.max()) if n else 0
        ids = np.full((n, width), pad_id, dtype=np.int64)
        mask = np.zeros((n, width), dtype=np.int64)
        types = np.zeros((n, width), dtype=np.int64)
        for i in range(n):
            start, end, length = self.offsets[i], self.offsets[i + 1], int(lengths[i])
            cols = slice(width - length, width) if side == "left" else slice(0, length)
            ids[i, cols] = self.input_ids[start:end]
            mask[i, cols] = 1
            if self.token_type_ids is not None:
                types[i, cols] = self.token_type_ids[start:end]
        return ids, mask, types


@dataclass(frozen=True)
class Output:
    """What one run() returns, row i belonging to sequence i of the Batch.

    embed: `embeddings` (n, embedding_dim) pooled (and Dense-projected) but NOT normalized --
    normalization and Matryoshka truncation are request options applied in postprocess.
    classify/rerank: `scores` (n, num_labels) raw logits.
    ner: `token_scores`, one (len_i, num_labels) array of raw logits per sequence.
    embed with `Batch.per_token`: `token_embeddings` as well, one entry per sequence -- its last
    hidden state (len_i, hidden_size), special tokens included, padding dropped, for the flagged
    sequences; None for the others.
    """

    embeddings: FloatArray | None = None
    scores: FloatArray | None = None
    token_scores: tuple[FloatArray, ...] | None = None
    token_embeddings: tuple[FloatArray | None, ...] | None = None


class Engine(Protocol):
    info: EngineInfo

    def run(self, batch: Batch) -> Output:
        """Synchronous; called from the single engine thread, one call per batch."""
        ...
