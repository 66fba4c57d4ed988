"""The in-process EngineClient: request items in on the event loop, engine batches out on one
thread of this process (tests, the fake engine, `bei serve --no-engine-process`).

- `submit` (event loop) queues one item per sequence (`work_queue.WorkQueue`) and wakes the
  engine thread; the caller awaits one asyncio future per item.
- The engine thread takes each next batch, runs it (`compute.run_batch`) and hands the rows
  back to each item's event loop in one callback per batch.
- Items whose future was cancelled (the client went away) or whose deadline passed are dropped
  before compute; a deadline drop fails its future with DeadlineExceededError.
- A batch that raises fails every item in it with EngineError; the thread keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bei_cli.engine.base import Engine, EngineInfo, FloatArray
from bei_cli.errors import BeiError, DeadlineExceededError
from bei_cli.runtime.client import BatchObserver, ItemResult
from bei_cli.runtime.compute import BatchRun, batch_failure, run_batch
from bei_cli.runtime.work_queue import QueuedItem, Taken, WorkQueue

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Waiter:
    """The Ticket of an in-process item: its future and the event loop that awaits it."""

    future: asyncio.Future[ItemResult]
    loop: asyncio.AbstractEventLoop

    def abandoned(self) -> bool:
        return self.future.done()


_Item = QueuedItem[_Waiter]


def deadline_error() -> DeadlineExceededError:
    return DeadlineExceededError(
        "The request's deadline passed before the model could start it.",
        hint="Allow more time (Request-Timeout-Ms), or retry when the server is less busy.",
    )


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
        self._observer = observer
        self._queue: WorkQueue[_Waiter] = WorkQueue(
            max_batch_tokens=max_batch_tokens,
            max_batch_size=max_batch_size,
            max_queued=max_queued,
            padded=engine.info.padded,
        )
        self._thread: threading.Thread | None = None

    @property
    def info(self) -> EngineInfo:
        return self._engine.info

    @property
    def queued(self) -> int:
        return self._queue.queued

    @property
    def queued_tokens(self) -> int:
        return self._queue.queued_tokens

    @property
    def batch_tokens(self) -> int:
        return self._queue.batch_tokens

    @property
    def alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._queue.closed

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="bei-engine", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float | None = None) -> None:
        """Stop accepting; the engine thread finishes what is queued, then exits."""
        self._queue.close()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def submit(
        self,
        sequences: Sequence[Sequence[int]],
        token_types: Sequence[Sequence[int]] | None = None,
        *,
        deadline: float | None = None,
        per_token: bool = False,
    ) -> list[asyncio.Future[ItemResult]]:
        """Queue sequences (event-loop side); one future per sequence, in order."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        types = token_types if token_types is not None else [None] * len(sequences)
        items = [
            QueuedItem(ids, type_ids, _Waiter(loop.create_future(), loop), now, deadline, per_token)
            for ids, type_ids in zip(sequences, types, strict=True)
        ]
        self._queue.put(items)
        return [item.ticket.future for item in items]

    async def run(
        self,
        sequences: Sequence[Sequence[int]],
        token_types: Sequence[Sequence[int]] | None = None,
        *,
        deadline: float | None = None,
        per_token: bool = False,
    ) -> list[ItemResult]:
        """Submit and await every item; cancelling the caller drops its items not yet run."""
        futures = self.submit(sequences, token_types, deadline=deadline, per_token=per_token)
        try:
            return list(await asyncio.gather(*futures))
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # retrieved: no "never retrieved" warnings

    def _serve(self) -> None:
        while (taken := self._queue.take()) is not None:
            self._report_drops(taken)
            if taken.batch:
                run = run_batch(self._engine, taken.batch)
                self._queue.observe_batch(*run.stats)
                self._deliver(taken.batch, run)

    def _report_drops(self, taken: Taken[_Waiter]) -> None:
        dropped = len(taken.abandoned) + len(taken.expired)
        if self._observer is not None and dropped:
            self._observer.observe_dropped(dropped)
        if taken.expired:
            _post(taken.expired, lambda items: _fail(items, deadline_error()))

    def _deliver(self, items: list[_Item], run: BatchRun) -> None:
        if self._observer is not None:
            self._observer.observe_batch(*run.stats)
        rows = run.rows
        if rows is None:
            _post(items, lambda chosen: _fail(chosen, batch_failure()))
            return
        by_item = dict(zip(map(id, items), rows, strict=True))
        _post(items, lambda chosen: _resolve(chosen, by_item, run))


def _post(items: list[_Item], deliver: Callable[[list[_Item]], None]) -> None:
    """Hand `items` to their event loops, one callback per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
    for item in items:
        by_loop.setdefault(item.ticket.loop, []).append(item)
    for loop, chosen in by_loop.items():
        try:
            loop.call_soon_threadsafe(deliver, chosen)
        except RuntimeError:  # that event loop is closed; nobody is waiting any more
            log.debug("dropping results for a closed event loop")


def _fail(items: list[_Item], error: BeiError) -> None:
    for item in items:
        if not item.ticket.future.done():
            item.ticket.future.set_exception(error)


def _resolve(items: list[_Item], rows: dict[int, FloatArray], run: BatchRun) -> None:
    for item in items:
        if not item.ticket.future.done():
            result = ItemResult(rows[id(item)], run.started - item.enqueued, run.seconds)
            item.ticket.future.set_result(result)
