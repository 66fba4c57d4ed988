"""Admission control for model routes: refuse early what the engine cannot start in time.

- `AdmissionGate.admit()`: at most `limit` requests in flight (429 beyond).
- `AdmissionGate.check(tokens, deadline)`: after tokenization, before the queue. The wait a
  request would have before its inputs start is estimated from what is queued ahead of it
  (the engine client's `queued` / `queued_tokens`), as batches of the engine's current token
  budget (`batch_tokens`: its limit, or less where its batches would take too long), at the
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
from bei_cli.runtime.batch_cost import BatchCost
from bei_cli.runtime.client import BatchObserver
from bei_cli.server.errors import ClientDisconnectedError

T = TypeVar("T")

TIMEOUT_HEADER = "request-timeout-ms"
DEADLINE_HEADER = "request-deadline-ms"

# The current request's deadline (time.monotonic()), set by `read_deadline`; None: no deadline.
request_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)


class QueueDepth(Protocol):
    """What admission reads from the engine client."""

    @property
    def queued(self) -> int: ...

    @property
    def queued_tokens(self) -> int: ...

    @property
    def batch_tokens(self) -> int: ...


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

    def batches(self, tokens: int, items: int, batch_tokens: int | None = None) -> int:
        """`batch_tokens`: the engine's current budget per batch, when lower than its limit."""
        if tokens <= 0 and items <= 0:
            return 0
        per_batch = max(1, min(self.max_tokens, batch_tokens or self.max_tokens))
        return max(1, -(-tokens // per_batch), -(-items // self.max_size))


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
        tokens, items, budget = self.admitted_tokens, self.admitted_items, None
        if self.queue is not None:  # what waits for the engine, not what it is running now
            tokens, items = self.queue.queued_tokens, self.queue.queued
            budget = self.queue.batch_tokens
        if self.shape is not None:
            batches = self.shape.batches(tokens, items, budget)
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
