"""What an engine batch costs, measured as the engine runs (`BatchCost`), and the token budget
of the next batch that follows from it (`BatchBudget`).

Both sides of the engine use the fit: admission (server/admission.py) estimates how long queued
work waits; the work queue (runtime/work_queue.py) keeps each batch within BATCH_TIME_TARGET_S.
"""

from __future__ import annotations

# Weight of the newest batch in the batch-cost fit: about the last ten batches count.
EWMA_WEIGHT = 0.2
# Batches whose padded sizes spread less than this (relative standard deviation) count as one
# shape: too little spread to tell fixed from per-token cost.
SHAPE_SPREAD = 0.1
# How long one batch should take where the engine could split the work finer. Everything queued
# behind a batch waits for it whole, so a request's time to its answer is at most admission's
# bound plus two batch times (the one running, its own). A compute-bound CPU loses nothing by
# it: MiniLM's 256-token inputs run at 70 inputs/s in batches of 4 and 56 in batches of 64 on a
# 2-core Zen 4, where max_num_tokens 16384 (64 such inputs) made 1.1 s batches -- 2.7 s with the
# load generator on the same cores. A GPU's batches of max_num_tokens take milliseconds: the
# budget never binds there.
BATCH_TIME_TARGET_S = 0.25


class BatchCost:
    """What one engine batch costs: seconds = fixed_s + per_token_s * padded tokens, fitted
    online over the recent batches (exponentially weighted least squares; `BatchObserver`).

    Why a fit and not a tokens/s rate: a batch's time is mostly fixed cost when it is small (a
    batch of one 5-token input costs about as much as one of 64), so a rate measured on small
    batches refuses work the next, bigger batch absorbs almost for free -- that is what made
    64 connections of short inputs draw 429s. Until batches of different shapes were seen, the
    whole time counts as fixed per batch (exact while every batch has the same shape, e.g. full
    batches under overload). Once they were, recent batches of one shape keep the per-token cost
    last measured (their own mean time stays exact): a warm-up of same-size small batches had
    turned it back into all-fixed, and a burst of long inputs then looked nearly free -- 240
    admitted under a 1 s bound, 6 s of work. The first batch is not counted: it pays one-off
    warm-up (the engine process's calibration, `compute.calibrate`, supplies two shapes first).

    Called from whichever thread delivers the batch: the sums are one tuple, replaced whole, so
    a reader on the event loop always sees a consistent set without a lock."""

    def __init__(self) -> None:
        self._seen = 0
        self._sums = (0.0, 0.0, 0.0, 0.0, 0.0)  # weight, x, y, x*x, x*y (x: padded tokens)
        self._slope: float | None = None  # per-token seconds of the last determined fit

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
        fit = _fit(self._sums)
        if fit is not None:
            self._slope = fit[1]

    def observe_dropped(self, count: int) -> None:
        pass

    def coefficients(self) -> tuple[float, float]:
        """(fixed seconds per batch, seconds per padded token); (0, 0) before any batch."""
        sums, slope = self._sums, self._slope
        w, sx, sy, _, _ = sums
        if w <= 0:
            return 0.0, 0.0
        fit = _fit(sums)
        if fit is not None:
            return fit
        mean_x, mean_y = sx / w, sy / w
        if slope is None:
            return mean_y, 0.0  # one batch shape so far: it all counts per batch
        per_token = min(slope, mean_y / mean_x)  # one shape lately: the last slope seen
        return mean_y - per_token * mean_x, per_token

    def seconds(self, batches: int, padded_tokens: int) -> float:
        fixed, per_token = self.coefficients()
        return batches * fixed + padded_tokens * per_token

    def mean_seconds_per_token(self) -> float:
        """Every second of the batches seen counted per padded token; 0 before any batch."""
        w, sx, sy, _, _ = self._sums
        return sy / sx if w > 0 and sx > 0 else 0.0


def _fit(sums: tuple[float, float, float, float, float]) -> tuple[float, float] | None:
    """(fixed, per-token seconds) where the batches' shapes spread enough to tell them apart."""
    w, sx, sy, sxx, sxy = sums
    if w <= 0:
        return None
    mean_x, mean_y = sx / w, sy / w
    variance = sxx / w - mean_x * mean_x
    covariance = sxy / w - mean_x * mean_y
    if variance <= (SHAPE_SPREAD * mean_x) ** 2 or covariance <= 0:
        return None
    per_token = covariance / variance
    fixed = mean_y - per_token * mean_x
    if fixed < 0:
        return 0.0, mean_y / mean_x
    return fixed, per_token


class BatchBudget:
    """The padded-token budget of the next batch: the engine's `max_tokens`, lowered to what the
    measured cost (`BatchCost`) says the engine runs within `target_s`. With one batch shape seen
    so far (fixed and per-token cost cannot be told apart), the whole time counts per token --
    an upper bound on the per-token cost, so the next batch is smaller, a second shape is seen,
    and the fit takes over. Engine thread only."""

    def __init__(self, max_tokens: int, target_s: float = BATCH_TIME_TARGET_S) -> None:
        self.max_tokens = max_tokens
        self.target_s = target_s
        self.cost = BatchCost()

    def observe_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        self.cost.observe_batch(size, tokens, padded_tokens, seconds)

    def tokens(self) -> int:
        if not self.cost.measured:
            return self.max_tokens
        fixed, per_token = self.cost.coefficients()
        if per_token > 0:
            # Never so small that the fixed cost is more than half of a batch's time.
            within = max(self.target_s - fixed, fixed) / per_token
        else:
            per_token = self.cost.mean_seconds_per_token()
            within = self.target_s / per_token if per_token > 0 else self.max_tokens
        return max(1, min(self.max_tokens, int(within)))
