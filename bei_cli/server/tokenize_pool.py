"""TokenizationPool: the threads that tokenize large requests off the event loop, with a bounded
queue. Unbounded, a burst of large requests would queue without limit while each holds its
texts in memory; bounded, the one over the limit is answered 429 at once (clients retry)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from bei_cli.errors import OverloadedError

P = ParamSpec("P")
T = TypeVar("T")


class TokenizationPool(ThreadPoolExecutor):
    """At most `max_pending` jobs running or waiting; `submit` beyond raises OverloadedError."""

    def __init__(self, workers: int, max_pending: int) -> None:
        super().__init__(workers, thread_name_prefix="bei-tokenize")
        self.max_pending = max_pending
        self._pending = 0
        self._count_lock = threading.Lock()  # jobs finish on the pool's threads

    @property
    def pending(self) -> int:
        return self._pending

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with self._count_lock:
            if self._pending >= self.max_pending:
                raise OverloadedError(
                    f"Model is overloaded: {self.max_pending} requests are waiting for "
                    "tokenization.",
                    hint="Retry with backoff.",
                )
            self._pending += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._finished(None)
            raise
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _: object) -> None:
        with self._count_lock:
            self._pending -= 1
