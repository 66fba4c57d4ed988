"""ThreadTuner: how many CPU threads the engine process gives its next torch batch, by measurement.

On a CPU the engine shares the cores with the front-ends (and, in a benchmark, the load
generator). Torch's intra-op threads meet at a barrier after every operator, so when one of them
loses its core for a moment the whole batch waits, and a thread spinning at that barrier takes
the core a front-end needed to feed the next batch. Measured with MiniLM on 2 cores: 256-token
inputs ran at 82 inputs/s on 2 threads and 36 on 1 with the cores free, but 26 on 2 and 48 on 1
while 256 Python HTTP clients ran beside them (Zen 4); 64 wrk connections of 5-token inputs were
served at 911 req/s mostly on 2 threads and 1,228 on 1 (Sapphire Rapids with AMX, 3 runs each).
Neither count is right for every load, and the load is only known while it runs, so the engine
keeps measuring.

What it compares is each count's padded tokens per engine second over a window -- the sum of the
tokens over the sum of the batch times of at least WINDOW_BATCHES batches spanning at least
WINDOW_S seconds, all run on that count -- not the cost of single batches. Batches of one size
cannot be compared with those of another by their cost per token (a batch of 2 costs several
times more per token than one of 60), and the count decides the sizes: one that starves the
front-ends gets its batches smaller. An earlier per-batch version averaged per-token costs and
kept 2 threads where 1 served 35% more; this one serves 1,230 there and keeps 2 threads for
256-token inputs (90 req/s; 1 thread: 62). A window's first batch after a switch is not counted
(threads waking, or the previous count's still spinning), and a count's rate is the median of
its last RATE_WINDOWS windows, so one window with a preempted batch does not flip the choice.

It runs on the count with the best rate and every EXPLORE_EVERY windows gives each other count
one window; a count k times slower waits k times longer (at most MAX_BACKOFF) before its next
trial. While the engine is mostly idle (busy less than LOADED_BUSY of the time, waiting for work
between batches), each batch's own latency is what counts: it runs on every thread (the default
count), unmeasured -- a light load on free cores is where all threads are fastest, and trials
there would slow single requests. (An earlier check, "nothing queued behind this batch", was
true of most batches under 64 closed-loop clients, which arrive in waves the engine takes whole,
so the tuner hardly ever ran.)

Only a torch engine on the CPU is tuned (torch.set_num_threads is process-wide, and in the
engine process only the engine thread runs torch); GPUs and ONNX Runtime sessions are left
alone."""

from __future__ import annotations

import logging
import statistics
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bei_cli.engine.base import Engine

log = logging.getLogger(__name__)

# A window: at least this long and this many counted batches.
WINDOW_S = 0.5
WINDOW_BATCHES = 4
# Windows on the best count between two trials of the others.
EXPLORE_EVERY = 8
# A count's rate: the median of its last windows (one preempted window is not a trend).
RATE_WINDOWS = 3
# Batches are tuned while the engine is busy at least this fraction of the time (an EWMA with
# this weight per batch); below it, it has been waiting for work.
LOADED_BUSY = 0.5
BUSY_WEIGHT = 0.2
# The longest wait between trials, in units of EXPLORE_EVERY.
MAX_BACKOFF = 4.0


@dataclass
class _Window:
    count: int
    started: float  # clock() when it opened
    batches: int = 0
    tokens: int = 0
    seconds: float = 0.0


class ThreadTuner:
    def __init__(
        self,
        counts: Sequence[int],
        set_threads: Callable[[int], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.counts = tuple(dict.fromkeys(counts))  # distinct, the default first
        self._set_threads = set_threads
        self._clock = clock
        self._rates: dict[int, deque[float]] = {}  # each count's last windows, tokens/s
        self._current: int | None = None
        self._switched = False  # the next batch follows a change of count: not counted
        self._best = self.counts[0]
        self._since_trial = 0  # windows on the best count since the last trial
        self._trial: list[int] = []  # counts still to run a trial window
        self._window: _Window | None = None
        self._busy = 0.0  # EWMA of the engine's busy fraction, batch by batch
        self._last_end: float | None = None  # clock() when the last batch ended
        self._last_seconds = 0.0  # and how long it ran

    @property
    def best(self) -> int:
        return self._best

    def rate(self, count: int) -> float | None:
        """Padded tokens per engine second of `count`'s recent windows (their median)."""
        rates = self._rates.get(count)
        return statistics.median(rates) if rates else None

    def choose(self) -> int | None:
        """The count for the next batch (applied); call once before each batch, and `observe`
        after it. None: the engine has mostly been idle, and the batch runs on the default
        count unmeasured."""
        now = self._clock()
        if self._last_end is not None:
            self._busy += BUSY_WEIGHT * (self._last_busy(now) - self._busy)
        if self._busy < LOADED_BUSY:
            self._apply(self.counts[0])
            return None
        if self._window is None:
            self._window = _Window(self._next_count(), now)
        self._apply(self._window.count)
        return self._window.count

    def observe(self, count: int | None, padded_tokens: int, seconds: float) -> None:
        """After each batch, with what `choose` returned for it."""
        self._last_end, self._last_seconds = self._clock(), seconds
        window, switched, self._switched = self._window, self._switched, False
        if count is None or window is None or window.count != count or switched:
            return
        if padded_tokens <= 0 or seconds <= 0:
            return
        window.batches += 1
        window.tokens += padded_tokens
        window.seconds += seconds
        if window.batches >= WINDOW_BATCHES and self._last_end - window.started >= WINDOW_S:
            self._window = None
            self._record(count, window.tokens / window.seconds)

    def _last_busy(self, now: float) -> float:
        """The busy fraction of the span from the last batch's start to now."""
        assert self._last_end is not None
        idle = max(0.0, now - self._last_end)
        span = self._last_seconds + idle
        return self._last_seconds / span if span > 0 else 1.0

    def _next_count(self) -> int:
        untried = [count for count in self.counts if count not in self._rates]
        if untried:
            return untried[0]
        if not self._trial and self._since_trial >= self._interval():
            self._trial = [c for c in self.counts if c != self._best][::-1]
            self._since_trial = 0
        if self._trial:
            return self._trial.pop()
        self._since_trial += 1
        return self._best

    def _apply(self, count: int) -> None:
        if count != self._current:
            self._set_threads(count)
            self._current = count
            self._switched = True

    def _interval(self) -> float:
        """Windows between trials: longer the worse the best other count did."""
        best = self.rate(self._best) or 0.0
        fastest_other = max(self.rate(c) or 0.0 for c in self.counts if c != self._best)
        ratio = best / fastest_other if fastest_other > 0 else MAX_BACKOFF
        return EXPLORE_EVERY * min(MAX_BACKOFF, max(1.0, ratio))

    def _record(self, count: int, rate: float) -> None:
        self._rates.setdefault(count, deque(maxlen=RATE_WINDOWS)).append(rate)
        if len(self._rates) < len(self.counts):
            return
        best = max(self.counts, key=lambda c: self.rate(c) or 0.0)
        if best != self._best:
            rates = ", ".join(f"{c}: {self.rate(c):,.0f}" for c in sorted(self.counts))
            log.info("engine threads: %d (padded tokens per engine second: %s)", best, rates)
            self._best = best


def thread_tuner_for(engine: Engine) -> ThreadTuner | None:
    """A tuner for a torch engine on the CPU with more than one thread; None otherwise."""
    info = engine.info
    if info.name != "torch" or info.device != "cpu":
        return None
    import torch  # a torch engine is loaded: torch is there

    threads = torch.get_num_threads()
    if threads <= 1:
        return None
    return ThreadTuner((threads, 1), torch.set_num_threads)
