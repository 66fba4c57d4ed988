"""The waiting room both engine clients batch from: a thread-safe FIFO of tokenized items.

- `put` (any thread) appends items and wakes the engine loop; more than `max_queued` waiting
  items -> OverloadedError (429); after `close()` -> NotReadyError.
- `take` (the engine loop) sleeps while the queue is empty; otherwise it pops the next batch
  (`batch_policy.select_batch` over a window of the oldest items), dropping items whose client
  went away (`Ticket.abandoned`) and items whose deadline has passed, before compute. Work that
  arrives while the engine runs waits here and forms the next batch: batching waits for more
  work only while the engine is busy, with no sleeps and no polling.
- `queued_tokens` is kept as a running sum in the engine's cost model (`queued_cost`).
- Each batch's token budget is `BatchBudget.tokens()`: max_batch_tokens, lowered to what the
  engine measurably runs within BATCH_TIME_TARGET_S; the engine loop reports every batch it ran
  (`observe_batch`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from bei_cli.engine.base import IntArray
from bei_cli.errors import NotReadyError, OverloadedError
from bei_cli.runtime.batch_cost import BATCH_TIME_TARGET_S, BatchBudget
from bei_cli.runtime.batch_policy import queued_cost, select_batch

# The policy looks at this many queued items per batch slot to sort by length.
WINDOW_PER_SLOT = 4


def capped(requested: int | None, engine_limit: int) -> int:
    """A batching limit the operator asked for, never above what the engine allows."""
    return engine_limit if requested is None else min(requested, engine_limit)


class Ticket(Protocol):
    """How the owner of an item delivers its result; the queue only asks whether anyone still
    waits for it."""

    def abandoned(self) -> bool: ...


T = TypeVar("T", bound=Ticket)
TokenIds = Sequence[int] | IntArray  # lists from the tokenizer, array views off the wire


@dataclass(eq=False)
class QueuedItem(Generic[T]):
    ids: TokenIds
    type_ids: TokenIds | None
    ticket: T
    enqueued: float  # time.monotonic() at submit
    deadline: float | None = None  # time.monotonic() by which it must have started
    per_token: bool = False  # wants its token states (Batch.per_token), not its pooled row


@dataclass
class Taken(Generic[T]):
    """One `take`: the batch to run, and what was dropped on the way."""

    batch: list[QueuedItem[T]]
    abandoned: list[QueuedItem[T]] = field(default_factory=list)
    expired: list[QueuedItem[T]] = field(default_factory=list)


class WorkQueue(Generic[T]):
    def __init__(
        self,
        *,
        max_batch_tokens: int,
        max_batch_size: int,
        max_queued: int,
        padded: bool,
        batch_time_s: float = BATCH_TIME_TARGET_S,
    ) -> None:
        self._budget = BatchBudget(max_batch_tokens, batch_time_s)
        self._max_size = max_batch_size
        self._window = max_batch_size * WINDOW_PER_SLOT
        self._max_queued = max_queued
        self._padded = padded
        self._items: deque[QueuedItem[T]] = deque()
        self._tokens = 0
        self._ready = threading.Condition()
        self._closed = False

    @property
    def queued(self) -> int:
        return len(self._items)

    @property
    def queued_tokens(self) -> int:
        return self._tokens

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def batch_tokens(self) -> int:
        """The token budget of the next batch."""
        return self._budget.tokens()

    def observe_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        """A batch the engine ran (engine thread): its cost refines the budget."""
        self._budget.observe_batch(size, tokens, padded_tokens, seconds)

    def cost(self, length: int) -> int:
        return queued_cost(length, padded=self._padded)

    def put(self, items: Sequence[QueuedItem[T]]) -> None:
        with self._ready:
            if self._closed:
                raise NotReadyError("The server is shutting down.")
            if len(self._items) + len(items) > self._max_queued:
                raise OverloadedError(
                    "Model is overloaded: too many inputs are queued.",
                    hint="Retry with backoff.",
                )
            self._items.extend(items)
            self._tokens += sum(self.cost(len(item.ids)) for item in items)
            self._ready.notify()

    def close(self) -> None:
        """Refuse new work; `take` hands out what is queued, then returns None."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def take(self, timeout_s: float | None = None) -> Taken[T] | None:
        """The next batch (possibly empty when everything in the window was dropped); None once
        closed and empty, or when `timeout_s` passed with nothing queued."""
        with self._ready:
            if not self._ready.wait_for(lambda: self._items or self._closed, timeout_s):
                return None
            if not self._items:
                return None
            return self._take_locked()

    def _take_locked(self) -> Taken[T]:
        head = [self._items.popleft() for _ in range(min(self._window, len(self._items)))]
        now = time.monotonic()
        taken: Taken[T] = Taken(batch=[])
        live: list[QueuedItem[T]] = []
        for item in head:
            if item.ticket.abandoned():
                taken.abandoned.append(item)
            elif item.deadline is not None and item.deadline <= now:
                taken.expired.append(item)
            else:
                live.append(item)
        chosen = set(
            select_batch(
                [len(item.ids) for item in live],
                max_tokens=self._budget.tokens(),
                max_size=self._max_size,
                window=self._window,
                padded=self._padded,
            )
        )
        rest = [item for i, item in enumerate(live) if i not in chosen]
        self._items.extendleft(reversed(rest))
        taken.batch = [item for i, item in enumerate(live) if i in chosen]
        gone = taken.batch + taken.abandoned + taken.expired
        self._tokens -= sum(self.cost(len(item.ids)) for item in gone)
        return taken
