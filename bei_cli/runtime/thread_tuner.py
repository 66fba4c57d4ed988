"""ThreadTuner: how many CPU threads the engine process gives its next torch batch, by measurement.

On a CPU the engine shares the cores with the front-ends (and, in a benchmark, the load
generator). Torch's intra-op threads meet at a barrier after every operator, so when one of them
loses its core for a moment the whole batch waits: measured on 2 Zen 4 cores with MiniLM, 256-token
inputs ran at 82 inputs/s on 2 threads and 36 on 1 with the cores free, but 26 on 2 threads and
48 on 1 while 256 Python HTTP clients ran on the same cores. Neither count is right for every
load, and the load is only known while it runs, so the engine keeps measuring: it runs on the
count whose recent batches cost the least per padded token and every EXPLORE_EVERY batches gives
the others TRIALS batches, so a change of load is noticed within a few seconds. A trial of a
count that cost k times the best waits k times longer (at most MAX_BACKOFF): trials of the
3.6x slower count took a third of the engine's time under that load otherwise. Only batches
run while more work waits are tuned: with nothing waiting, a batch's own latency is what
counts, and it runs on every thread (the default count) without being measured -- a light
load on free cores is where all threads are fastest, and trials there would slow one request
in twenty.

Only a torch engine on the CPU is tuned (torch.set_num_threads is process-wide, and in the
engine process only the engine thread runs torch); GPUs and ONNX Runtime sessions are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bei_cli.engine.base import Engine

log = logging.getLogger(__name__)

# Batches run on the best count between two trials of the others.
EXPLORE_EVERY = 16
# Batches a trial runs on the other count (the first may pay for waking its threads).
TRIALS = 2
# Weight of a new batch in a count's cost: about the last five batches count.
EWMA_WEIGHT = 0.3
# The longest wait between trials, in units of EXPLORE_EVERY.
MAX_BACKOFF = 4.0


class ThreadTuner:
    def __init__(self, counts: Sequence[int], set_threads: Callable[[int], None]) -> None:
        self.counts = tuple(dict.fromkeys(counts))  # distinct, the default first
        self._set_threads = set_threads
        self._cost: dict[int, float] = {}  # seconds per padded token, EWMA
        self._current: int | None = None
        self._best = self.counts[0]
        self._since_trial = 0
        self._trial: list[int] = []  # counts still to run in the current trial

    @property
    def best(self) -> int:
        return self._best

    def choose(self, waiting: bool = True) -> int | None:
        """The count for the next batch (applied); call once before each batch. `waiting`: more
        work is queued behind it. Returns the count to report to `observe`, or None when the
        batch runs on the default count unmeasured (nothing waiting)."""
        if not waiting:
            self._apply(self.counts[0])
            return None
        untried = [count for count in self.counts if count not in self._cost]
        if untried:
            count = untried[0]
        elif self._trial:
            count = self._trial.pop()
        elif self._since_trial >= self._interval():
            others = [c for c in self.counts if c != self._best]
            self._trial = [c for c in others for _ in range(TRIALS)][::-1]
            self._since_trial = 0
            count = self._trial.pop()
        else:
            self._since_trial += 1
            count = self._best
        self._apply(count)
        return count

    def _apply(self, count: int) -> None:
        if count != self._current:
            self._set_threads(count)
            self._current = count

    def _interval(self) -> float:
        """Batches between trials: longer the worse the best other count did."""
        best = self._cost[self._best]
        cheapest_other = min(s for c, s in self._cost.items() if c != self._best)
        ratio = cheapest_other / best if best > 0 else MAX_BACKOFF
        return EXPLORE_EVERY * min(MAX_BACKOFF, max(1.0, ratio))

    def observe(self, count: int, padded_tokens: int, seconds: float) -> None:
        if padded_tokens <= 0 or seconds <= 0:
            return
        per_token = seconds / padded_tokens
        old = self._cost.get(count)
        self._cost[count] = per_token if old is None else old + EWMA_WEIGHT * (per_token - old)
        if len(self._cost) == len(self.counts):
            best = min(self._cost, key=self._cost.__getitem__)
            if best != self._best:
                costs = ", ".join(f"{c}: {s * 1e6:.1f}" for c, s in sorted(self._cost.items()))
                log.info("engine threads: %d (us per padded token by threads: %s)", best, costs)
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
