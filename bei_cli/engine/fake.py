"""A deterministic engine with no weights: a real backend for server and batcher tests.

Each token id maps to a fixed pseudo-random vector; a sequence's embedding is the mean of its
tokens' vectors, so equal inputs give equal outputs and different inputs differ -- tests can check
that every response matches its own input. `fail_on_token` makes any batch containing that token id
raise, to exercise the "a failed batch fails every request in it" path; `delay_s` simulates compute.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from bei_cli.engine.base import Batch, EngineInfo, FloatArray, Output


def token_vector(token_id: int, dim: int) -> FloatArray:
    rng = np.random.default_rng(token_id)
    return rng.standard_normal(dim).astype(np.float32)


def fake_embedding(token_ids: list[int] | np.ndarray, dim: int) -> FloatArray:
    """The embedding FakeEngine returns for one sequence (tests use it as the reference)."""
    vectors = np.stack([token_vector(int(t), dim) for t in token_ids])
    return vectors.mean(axis=0).astype(np.float32)


def fake_token_states(batch: Batch, dim: int) -> tuple[FloatArray | None, ...] | None:
    """Per-token rows of the flagged sequences: each token's vector (their mean is the pooled
    embedding)."""
    if batch.per_token is None:
        return None
    return tuple(
        np.stack([token_vector(int(t), dim) for t in batch.sequence(i)]) if wanted else None
        for i, wanted in enumerate(batch.per_token)
    )


@dataclass
class FakeEngine:
    info: EngineInfo
    fail_on_token: int | None = None
    delay_s: float = 0.0
    # Observability for tests: the sizes of the batches run so far.
    batch_sizes: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(self, batch: Batch) -> Output:
        with self._lock:
            self.batch_sizes.append(len(batch))
        if self.fail_on_token is not None and np.any(batch.input_ids == self.fail_on_token):
            raise RuntimeError(f"fake engine asked to fail on token {self.fail_on_token}")
        if self.delay_s:
            time.sleep(self.delay_s)
        dim = self.info.embedding_dim
        if self.info.task == "embed":
            rows = [fake_embedding(batch.sequence(i), dim) for i in range(len(batch))]
            return Output(
                embeddings=np.stack(rows) if rows else np.zeros((0, dim), np.float32),
                token_embeddings=fake_token_states(batch, dim),
            )
        if self.info.task == "ner":
            return Output(
                token_scores=tuple(
                    np.stack([token_vector(int(t), dim) for t in batch.sequence(i)])
                    for i in range(len(batch))
                )
            )
        rows = [fake_embedding(batch.sequence(i), dim) for i in range(len(batch))]
        return Output(scores=np.stack(rows) if rows else np.zeros((0, dim), np.float32))


def fake_info(task: str = "embed", dim: int = 16, max_seq_len: int = 128) -> EngineInfo:
    labels = tuple(f"LABEL_{i}" for i in range(dim)) if task != "embed" else ()
    return EngineInfo(
        name="fake",
        task=task,  # type: ignore[arg-type]
        dtype="float32",
        device="cpu",
        embedding_dim=dim,
        labels=labels,
        max_seq_len=max_seq_len,
        max_batch_tokens=16384,
        max_batch_size=256,
        token_embeddings=task == "embed",
    )
