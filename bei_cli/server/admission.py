"""Admission control for model routes: refuse early what the engine cannot start in time.

- `AdmissionGate.admit()`: at most `limit` requests in flight (429 beyond).
- `AdmissionGate.check(tokens, deadline)`: after tokenization, before the queue. The wait a
  request would have before its inputs start is estimated from what is queued ahead of it
  (the engine client's `queued` / `queued_tokens`), as batches of the engine's limits, at the
  engine's measured batch cost (`BatchCost`: fixed + per-token seconds fitted over the
  batches it ran, fed by the engine client's observer). Over `max_wait_s`: 429 with
  `Retry-After`. A request whose deadline comes before its estimated start: 504 at once,
  nothing queued.
- The client's deadline comes from `Request-Timeout-Ms` (relative) or `Request-Deadline-Ms`
  (absolute, Unix epoch milliseconds), as the Baseten performance client sends both; it is read
  by the `read_deadline` route dependency into a context variable, as a `time.monotonic()`
  value, and becomes the engine client's `deadline=` (expired inputs dropped before compute).
- `unless_disconnected`: work whose client left is cancelled, so its inputs are dropped.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, TypeVar

from fastapi import Request
from starlette.types import Receive

from bei_cli.errors import DeadlineExceededError, MalformedRequestError, OverloadedError
from bei_cli.runtime.client import BatchObserver
from bei_cli.server.errors import ClientDisconnectedError

T = TypeVar("T")

TIMEOUT_HEADER = "request-timeout-ms"
DEADLINE_HEADER = "request-deadline-ms"
# Weight of the newest batch in the batch-cost fit: about the last ten batches count.
EWMA_WEIGHT = 0.2
# Batches whose padded sizes spread less than this (relative standard deviation) count as one
# shape: too little spread to tell fixed from per-token cost.
SHAPE_SPREAD = 0.1

# The current request's deadline (time.monotonic()), set by `read_deadline`; None: no deadline.
request_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)


class QueueDepth(Protocol):
    """What admission reads from the engine client."""

    @property
    def queued(self) -> int: ...

    @property
    def queued_tokens(self) -> int: ...


class BatchCost:
    """What one engine batch costs: seconds = fixed_s + per_token_s * padded tokens, fitted
    online over the recent batches (exponentially weighted least squares; `BatchObserver`).

    Why a fit and not a tokens/s rate: a batch's time is mostly fixed cost when it is small (a
    batch of one 5-token input costs about as much as one of 64), so a rate measured on small
    batches refuses work the next, bigger batch absorbs almost for free -- that is what made
    64 connections of short inputs draw 429s. Until batches of different shapes were seen, the
    whole time counts as fixed per batch (exact while every batch has the same shape, e.g. full
    batches under overload). The first batch is not counted: it pays one-off warm-up.

    Called from whichever thread delivers the batch: the sums are one tuple, replaced whole, so
    a reader on the event loop always sees a consistent set without a lock."""

    def __init__(self) -> None:
        self._seen = 0
        self._sums = (0.0, 0.0, 0.0, 0.0, 0.0)  # weight, x, y, x*x, x*y (x: padded tokens)

    @property
    def measured(self) -> bool:
        return self._sums[0] > 0

    def observe_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        if seconds <= 0 or padded_tokens <= 0:
            return
        self._seen += 1
        if self._seen == 1:
            return
        keep = 1.0 - EWMA_WEIGHT
        w, sx, sy, sxx, sxy = self._sums
        x = float(padded_tokens)
        self._sums = (
            w * keep + 1.0,
            sx * keep + x,
            sy * keep + seconds,
            sxx * keep + x * x,
            sxy * keep + x * seconds,
        )

    def observe_dropped(self, count: int) -> None:
        pass

    def coefficients(self) -> tuple[float, float]:
        """(fixed seconds per batch, seconds per padded token); (0, 0) before any batch."""
        w, sx, sy, sxx, sxy = self._sums
        if w <= 0:
            return 0.0, 0.0
        mean_x, mean_y = sx / w, sy / w
        variance = sxx / w - mean_x * mean_x
        covariance = sxy / w - mean_x * mean_y
        if variance <= (SHAPE_SPREAD * mean_x) ** 2 or covariance <= 0:
            return mean_y, 0.0  # one batch shape so far: it all counts per batch
        per_token = covariance / variance
        fixed = mean_y - per_token * mean_x
        if fixed < 0:
            return 0.0, mean_y / mean_x
        return fixed, per_token

    def seconds(self, batches: int, padded_tokens: int) -> float:
        fixed, per_token = self.coefficients()
        return batches * fixed + padded_tokens * per_token


@dataclass(frozen=True)
class Observers:
    """Several batch observers as one (the metrics and the batch cost)."""

    observers: tuple[BatchObserver, ...]

    def observe_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        for observer in self.observers:
            observer.observe_batch(size, tokens, padded_tokens, seconds)

    def observe_dropped(self, count: int) -> None:
        for observer in self.observers:
            observer.observe_dropped(count)


@dataclass(frozen=True)
class BatchShape:
    """The engine's batch limits: how many batches the work ahead takes."""

    max_tokens: int
    max_size: int

    def batches(self, tokens: int, items: int) -> int:
        if tokens <= 0 and items <= 0:
            return 0
        return max(1, -(-tokens // self.max_tokens), -(-items // self.max_size))


class AdmissionGate:
    """Event-loop only, so plain ints. `queue`/`cost` None: only the in-flight limit; `shape`
    None: the work ahead counts as one batch."""

    def __init__(
        self,
        limit: int,
        *,
        max_wait_s: float | None = None,
        queue: QueueDepth | None = None,
        cost: BatchCost | None = None,
        shape: BatchShape | None = None,
    ) -> None:
        self.limit = limit
        self.in_flight = 0
        self.max_wait_s = max_wait_s
        self.queue = queue
        self.cost = cost
        self.shape = shape
        self.admitted_tokens = 0  # real tokens this front-end has queued or running
        self.admitted_items = 0

    @contextmanager
    def admit(self) -> Iterator[None]:
        if self.in_flight >= self.limit:
            raise OverloadedError(
                f"Model is overloaded: {self.limit} requests are in flight.",
                hint="Retry with backoff.",
                retry_after_s=1.0,
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    def estimated_wait_s(self) -> float:
        """Seconds before work submitted now would start: the batches queued ahead of it (the
        engine client's queue; without one, what this front-end has admitted) at the measured
        batch cost; 0 while nothing was measured. The batch running now is left out: it is
        part done, and counting it whole would refuse a steady 64-connection load whose next
        batch starts within one batch time."""
        if self.cost is None or not self.cost.measured:
            return 0.0
        tokens, items = self.admitted_tokens, self.admitted_items
        if self.queue is not None:  # what waits for the engine, not what it is running now
            tokens, items = self.queue.queued_tokens, self.queue.queued
        if self.shape is not None:
            batches = self.shape.batches(tokens, items)
        else:
            batches = 1 if tokens or items else 0
        return self.cost.seconds(batches, tokens)

    @contextmanager
    def queued(self, sequences: Sequence[Sequence[int]]) -> Iterator[float | None]:
        """Admit tokenized work to the engine queue, or refuse it (429 / 504); yields the
        request's deadline for the engine client."""
        deadline = request_deadline.get()
        wait = self.estimated_wait_s()
        now = time.monotonic()
        if deadline is not None and now + wait >= deadline:
            raise DeadlineExceededError(
                "The request's deadline passes before the model could start it "
                f"(estimated wait {wait:.3f} s); nothing was queued.",
                hint="Allow a longer Request-Timeout-Ms, or retry when the server is less busy.",
            )
        if self.max_wait_s is not None and wait > self.max_wait_s:
            raise OverloadedError(
                f"Model is overloaded: the queue holds {wait:.1f} s of work "
                f"(this server starts work within {self.max_wait_s:g} s).",
                hint="Retry after the Retry-After seconds, with backoff.",
                retry_after_s=wait - self.max_wait_s,
            )
        tokens = sum(len(s) for s in sequences)
        self.admitted_tokens += tokens
        self.admitted_items += len(sequences)
        try:
            yield deadline
        finally:
            self.admitted_tokens -= tokens
            self.admitted_items -= len(sequences)


def deadline_from_headers(
    timeout_ms: str | None, deadline_ms: str | None, *, wall_now: float, monotonic_now: float
) -> float | None:
    """The earlier of both headers as a time.monotonic() value; None when neither is given."""
    deadlines = []
    if timeout_ms is not None:
        deadlines.append(monotonic_now + _milliseconds(timeout_ms, "Request-Timeout-Ms") / 1000)
    if deadline_ms is not None:
        epoch_ms = _milliseconds(deadline_ms, "Request-Deadline-Ms")
        deadlines.append(monotonic_now + (epoch_ms / 1000 - wall_now))
    return min(deadlines) if deadlines else None


def _milliseconds(value: str, header: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise MalformedRequestError(
            f"The {header} header must be a non-negative number of milliseconds, got {value!r}.",
            param=header,
        )
    return number


async def read_deadline(request: Request) -> None:
    """Route dependency: the request's deadline into `request_deadline` (an async dependency
    runs in the endpoint's own context, so the endpoint sees what it sets)."""
    headers = request.headers
    request_deadline.set(
        deadline_from_headers(
            headers.get(TIMEOUT_HEADER),
            headers.get(DEADLINE_HEADER),
            wall_now=time.time(),
            monotonic_now=time.monotonic(),
        )
    )


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """`unless_client_leaves` on a route's request."""
    return await unless_client_leaves(request.receive, work)


async def unless_client_leaves(receive: Receive, work: Awaitable[T]) -> T:
    """Await `work` in this task, cancelling it if the client goes away first, so its queued
    inputs are dropped before compute (vLLM's `with_cancellation`). The body must already be
    read. One watcher task per request, which cancels this one on a disconnect (a failing
    receive() counts as one); not a second task for the work and an asyncio.wait over both,
    which cost more than the rest of a short request's path on the event loop."""
    this = asyncio.current_task()
    assert this is not None
    left = False

    async def watch() -> None:
        nonlocal left
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        except Exception:  # a broken channel: the client is gone either way
            pass
        left = True
        this.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        result = await work
    except asyncio.CancelledError:
        if not left:
            raise
        this.uncancel()
        raise ClientDisconnectedError from None
    finally:
        watcher.cancel()
    if left:  # work swallowed the cancellation: nobody reads its answer
        this.uncancel()
        raise ClientDisconnectedError
    return result
