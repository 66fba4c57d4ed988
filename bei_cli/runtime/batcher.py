"""The dynamic batcher: request items in on the event loop, engine batches out on one thread.

- `submit` (event loop) appends one pending item per sequence and wakes the engine thread; the
  caller awaits one asyncio future per item.
- The engine thread sleeps on a condition variable while the queue is empty. Otherwise it takes
  the next batch (`batch_policy.select_batch`), runs it, and hands the rows back to each item's
  event loop in one callback per batch. Work that arrives while the engine runs waits in the
  queue and forms the next batch -- batching waits for more work only while the engine is busy,
  with no sleeps and no polling.
- Items whose future was cancelled (the client went away) are dropped before compute.
- A batch that raises fails every item in it with EngineError; the thread keeps serving.
- More than `max_queued` waiting items -> OverloadedError (429); after `close()` -> NotReadyError.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bei_cli.engine.base import Batch, Engine, FloatArray, Output
from bei_cli.errors import EngineError, NotReadyError, OverloadedError
from bei_cli.runtime.batch_policy import select_batch

log = logging.getLogger(__name__)

# The policy looks at this many queued items per batch slot to sort by length.
WINDOW_PER_SLOT = 4


@dataclass(frozen=True)
class ItemResult:
    values: FloatArray  # this sequence's row: an embedding, label scores, or per-token scores
    queue_s: float  # submit -> its batch started
    inference_s: float  # its batch's engine time


class BatchObserver(Protocol):
    def observe_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None: ...

    def observe_dropped(self, count: int) -> None: ...


@dataclass(eq=False)
class _Pending:
    ids: Sequence[int]
    type_ids: Sequence[int] | None
    future: asyncio.Future[ItemResult]
    loop: asyncio.AbstractEventLoop
    enqueued: float


def output_rows(output: Output, count: int) -> list[FloatArray]:
    """Split an engine Output into one row per sequence, whatever the task."""
    present = [f for f in (output.embeddings, output.scores, output.token_scores) if f is not None]
    if len(present) != 1 or len(present[0]) != count:
        raise EngineError(f"The engine returned a malformed output for a batch of {count}.")
    return list(present[0])


class Batcher:
    def __init__(
        self,
        engine: Engine,
        *,
        max_batch_tokens: int,
        max_batch_size: int,
        max_queued: int,
        observer: BatchObserver | None = None,
    ) -> None:
        self._engine = engine
        self._max_tokens = max_batch_tokens
        self._max_size = max_batch_size
        self._window = max_batch_size * WINDOW_PER_SLOT
        self._max_queued = max_queued
        self._observer = observer
        self._queue: deque[_Pending] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._closed

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="bei-engine", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float | None = None) -> None:
        """Stop accepting; the engine thread finishes what is queued, then exits."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def submit(
        self,
        sequences: Sequence[Sequence[int]],
        token_types: Sequence[Sequence[int]] | None = None,
    ) -> list[asyncio.Future[ItemResult]]:
        """Queue sequences (event-loop side); one future per sequence, in order."""
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        types = token_types if token_types is not None else [None] * len(sequences)
        items = [
            _Pending(ids, type_ids, loop.create_future(), loop, now)
            for ids, type_ids in zip(sequences, types, strict=True)
        ]
        with self._ready:
            if self._closed:
                raise NotReadyError("The server is shutting down.")
            if len(self._queue) + len(items) > self._max_queued:
                raise OverloadedError(
                    "Model is overloaded: too many inputs are queued.",
                    hint="Retry with backoff.",
                )
            self._queue.extend(items)
            self._ready.notify()
        return [item.future for item in items]

    async def run(
        self,
        sequences: Sequence[Sequence[int]],
        token_types: Sequence[Sequence[int]] | None = None,
    ) -> list[ItemResult]:
        """Submit and await every item; cancelling the caller drops its items not yet run."""
        futures = self.submit(sequences, token_types)
        try:
            return list(await asyncio.gather(*futures))
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # retrieved: no "never retrieved" warnings

    def _serve(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return
                batch = self._take_batch()
            if batch:
                self._run(batch)

    def _take_batch(self) -> list[_Pending]:
        """Pop the next batch off the queue (lock held), dropping cancelled items."""
        head = [self._queue.popleft() for _ in range(min(self._window, len(self._queue)))]
        live = [item for item in head if not item.future.done()]
        if self._observer is not None and len(live) < len(head):
            self._observer.observe_dropped(len(head) - len(live))
        chosen = set(
            select_batch(
                [len(item.ids) for item in live],
                max_tokens=self._max_tokens,
                max_size=self._max_size,
                window=self._window,
            )
        )
        rest = [item for i, item in enumerate(live) if i not in chosen]
        self._queue.extendleft(reversed(rest))
        return [item for i, item in enumerate(live) if i in chosen]

    def _run(self, items: list[_Pending]) -> None:
        started = time.perf_counter()
        rows: list[FloatArray] | None = None
        try:
            rows = output_rows(self._engine.run(self._batch_of(items)), len(items))
        except Exception:
            log.exception("engine failed on a batch of %d sequences", len(items))
        seconds = time.perf_counter() - started
        if self._observer is not None:
            lengths = [len(item.ids) for item in items]
            self._observer.observe_batch(
                len(items), sum(lengths), len(items) * max(lengths), seconds
            )
        by_loop: dict[asyncio.AbstractEventLoop, list[int]] = {}
        for i, item in enumerate(items):
            by_loop.setdefault(item.loop, []).append(i)
        for loop, indices in by_loop.items():
            chosen = [items[i] for i in indices]
            chosen_rows = None if rows is None else [rows[i] for i in indices]
            try:
                loop.call_soon_threadsafe(_deliver, chosen, chosen_rows, started, seconds)
            except RuntimeError:  # that event loop is closed; nobody is waiting any more
                log.debug("dropping results for a closed event loop")

    @staticmethod
    def _batch_of(items: list[_Pending]) -> Batch:
        sequences = [list(item.ids) for item in items]
        types = None
        if any(item.type_ids is not None for item in items):
            types = [
                list(item.type_ids) if item.type_ids is not None else [0] * len(item.ids)
                for item in items
            ]
        return Batch.from_sequences(sequences, types)


def _deliver(
    items: list[_Pending], rows: list[FloatArray] | None, started: float, seconds: float
) -> None:
    """Event-loop side: resolve each still-waiting future with its row or the batch's error."""
    for i, item in enumerate(items):
        if item.future.done():
            continue
        if rows is None:
            item.future.set_exception(
                EngineError(
                    "The model failed to run the batch holding this input.",
                    hint="The error is logged on the server; retrying may succeed.",
                )
            )
        else:
            item.future.set_result(ItemResult(rows[i], started - item.enqueued, seconds))
