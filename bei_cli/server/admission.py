"""Admission control for model routes: refuse early what the engine cannot start in time.

- `AdmissionGate.admit()`: at most `limit` requests in flight (429 beyond).
- `AdmissionGate.check(tokens, deadline)`: after tokenization, before the queue. The wait a
  request would have before its inputs start is estimated from what is ahead of it (the engine
  client's `queued_tokens`, or what this front-end has in flight if that is more) and the
  engine's measured throughput (`Throughput`, an EWMA over the batches it ran, fed by the
  engine client's observer). Over `max_wait_s`: 429 with `Retry-After`. A request whose
  deadline comes before its estimated start: 504 at once, nothing queued.
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

from bei_cli.errors import DeadlineExceededError, MalformedRequestError, OverloadedError
from bei_cli.runtime.client import BatchObserver
from bei_cli.server.errors import ClientDisconnectedError

T = TypeVar("T")

TIMEOUT_HEADER = "request-timeout-ms"
DEADLINE_HEADER = "request-deadline-ms"
# Weight of the newest batch in the throughput estimate: about the last ten batches count.
EWMA_WEIGHT = 0.2

# The current request's deadline (time.monotonic()), set by `read_deadline`; None: no deadline.
request_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)


class QueueDepth(Protocol):
    """What admission reads from the engine client."""

    @property
    def queued_tokens(self) -> int: ...


class Throughput:
    """The engine's speed while it runs, in padded and in real tokens per second: an EWMA over
    batches (`BatchObserver`; called from whichever thread delivers the batch -- each update is
    one float store, so readers on the event loop need no lock). None until the first batch."""

    def __init__(self) -> None:
        self.padded_per_s: float | None = None
        self.tokens_per_s: float | None = None

    def observe_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        if seconds <= 0 or tokens <= 0:
            return
        self.padded_per_s = _ewma(self.padded_per_s, padded_tokens / seconds)
        self.tokens_per_s = _ewma(self.tokens_per_s, tokens / seconds)

    def observe_dropped(self, count: int) -> None:
        pass


@dataclass(frozen=True)
class Observers:
    """Several batch observers as one (the metrics and the throughput estimate)."""

    observers: tuple[BatchObserver, ...]

    def observe_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        for observer in self.observers:
            observer.observe_batch(size, tokens, padded_tokens, seconds)

    def observe_dropped(self, count: int) -> None:
        for observer in self.observers:
            observer.observe_dropped(count)


def _ewma(old: float | None, new: float) -> float:
    return new if old is None else old + EWMA_WEIGHT * (new - old)


class AdmissionGate:
    """Event-loop only, so plain ints. `queue`/`throughput` None: only the in-flight limit."""

    def __init__(
        self,
        limit: int,
        *,
        max_wait_s: float | None = None,
        queue: QueueDepth | None = None,
        throughput: Throughput | None = None,
    ) -> None:
        self.limit = limit
        self.in_flight = 0
        self.max_wait_s = max_wait_s
        self.queue = queue
        self.throughput = throughput
        self.admitted_tokens = 0  # real tokens this front-end has queued or running

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
        """Seconds before work submitted now would start; 0 while nothing was measured."""
        rate = self.throughput
        if rate is None or rate.padded_per_s is None or rate.tokens_per_s is None:
            return 0.0
        ahead = self.admitted_tokens / rate.tokens_per_s
        if self.queue is not None:
            ahead = max(ahead, self.queue.queued_tokens / rate.padded_per_s)
        return ahead

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
        try:
            yield deadline
        finally:
            self.admitted_tokens -= tokens


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


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it if the client goes away first, so its queued inputs are
    dropped before compute (vLLM's `with_cancellation`). The body must already be read."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        watcher.cancel()
        if watcher.done() and not watcher.cancelled():
            watcher.exception()  # a failing receive() counts as a disconnect
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.wait({task})
    raise ClientDisconnectedError
