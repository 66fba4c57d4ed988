"""The EngineClient seam: how the HTTP front-end reaches an engine, wherever the engine runs.

Two implementations, one contract (TEI's router -> queue -> backend; vLLM V1's API server ->
EngineCore client):
- `runtime.batcher.Batcher`: the engine in this process, batched on one thread (tests, the fake
  engine, `bei serve --no-engine-process`);
- `runtime.process_client.ProcessEngineClient`: the engine in its own process
  (`runtime.engine_server`), reached over ZeroMQ; many front-end processes share it.

Times are `time.monotonic()` values: CLOCK_MONOTONIC is system-wide on Linux, so a deadline set
by a front-end means the same instant in the engine process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bei_cli.engine.base import EngineInfo, FloatArray


@dataclass(frozen=True)
class ItemResult:
    # this sequence's row: an embedding, label scores, per-token scores, or (per_token) its
    # (tokens, hidden) last hidden state
    values: FloatArray
    queue_s: float  # submit -> its batch started
    inference_s: float  # its batch's engine time


class BatchObserver(Protocol):
    """Where a client reports what the engine did (the server's metrics, admission's
    throughput estimate). Called from whichever thread delivers the batch."""

    def observe_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None: ...

    def observe_dropped(self, count: int) -> None: ...


@runtime_checkable
class EngineClient(Protocol):
    @property
    def info(self) -> EngineInfo: ...

    @property
    def alive(self) -> bool: ...

    @property
    def queued(self) -> int:
        """Sequences waiting, not yet in a batch."""
        ...

    @property
    def queued_tokens(self) -> int:
        """What the waiting work costs in the engine's own cost model (padded tokens for a
        padding engine, `EngineInfo.padded`)."""
        ...

    @property
    def batch_tokens(self) -> int:
        """The engine's token budget for its next batch (`WorkQueue.batch_tokens`): how many
        batches the waiting work takes."""
        ...

    def start(self) -> None:
        """In-process: start the engine thread. Engine process: connect (it is running)."""
        ...

    def close(self, timeout_s: float | None = None) -> None: ...

    async def run(
        self,
        sequences: Sequence[Sequence[int]],
        token_types: Sequence[Sequence[int]] | None = None,
        *,
        deadline: float | None = None,
        per_token: bool = False,
    ) -> list[ItemResult]:
        """One result per sequence, in order. `deadline` (a `time.monotonic()` value): items not
        started by then are dropped before compute and this raises DeadlineExceededError.
        Cancelling the awaiting task drops its items not yet run. A full queue raises
        OverloadedError, a closed client NotReadyError, a failed batch EngineError.
        `per_token`: each result is the sequence's token states (`info.token_embeddings`)."""
        ...
