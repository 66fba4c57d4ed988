"""The next batch's token budget follows the engine's measured cost: within BATCH_TIME_TARGET_S
where splitting the work costs nothing, the engine's own max_batch_tokens where batches are
fast (a GPU) or mostly fixed cost."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bei_cli.runtime.batch_cost import BATCH_TIME_TARGET_S, BatchBudget
from bei_cli.runtime.work_queue import QueuedItem, WorkQueue

MAX_TOKENS = 16384


def feed(budget: BatchBudget, fixed_s: float, per_token_s: float, shapes: list[int]) -> None:
    for padded in shapes:
        budget.observe_batch(padded // 256 or 1, padded, padded, fixed_s + per_token_s * padded)


def test_the_engines_limit_until_a_batch_was_measured() -> None:
    budget = BatchBudget(MAX_TOKENS)
    assert budget.tokens() == MAX_TOKENS
    feed(budget, 0.0, 1e-4, [MAX_TOKENS])  # the first batch pays warm-up: not counted
    assert budget.tokens() == MAX_TOKENS


def test_one_slow_shape_shrinks_the_next_batch_to_the_target() -> None:
    """MiniLM on 2 CPU cores: 64 x 256 tokens took 1.1 s. With one shape seen, the whole time
    counts per token: the next batch holds what runs in the target."""
    budget = BatchBudget(MAX_TOKENS)
    feed(budget, 0.0, 1.1 / MAX_TOKENS, [MAX_TOKENS] * 4)
    assert budget.tokens() == int(BATCH_TIME_TARGET_S / 1.1 * MAX_TOKENS)


def test_a_linear_engine_gets_the_batch_that_fits_the_target() -> None:
    budget = BatchBudget(MAX_TOKENS)
    fixed, per_token = 0.002, 6e-5
    feed(budget, fixed, per_token, [MAX_TOKENS, 1024, 4096, 2048, 8192, 3000, 512])
    tokens = budget.tokens()
    assert tokens == pytest.approx((BATCH_TIME_TARGET_S - fixed) / per_token, rel=1e-3)
    assert fixed + per_token * tokens <= BATCH_TIME_TARGET_S * 1.001


@pytest.mark.parametrize(
    ("fixed", "per_token"),
    [(0.001, 1e-7), (0.2, 1e-5)],
    ids=["fast batches (a GPU)", "mostly fixed cost"],
)
def test_no_smaller_batches_where_they_would_not_help(fixed: float, per_token: float) -> None:
    budget = BatchBudget(MAX_TOKENS)
    feed(budget, fixed, per_token, [MAX_TOKENS, 1024, 4096, 2048, 8192])
    assert budget.tokens() == MAX_TOKENS


@dataclass
class Waiting:
    def abandoned(self) -> bool:
        return False


def test_the_queue_forms_batches_within_the_budget() -> None:
    queue: WorkQueue[Waiting] = WorkQueue(
        max_batch_tokens=MAX_TOKENS, max_batch_size=256, max_queued=1000, padded=True
    )
    queue.put([QueuedItem(list(range(256)), None, Waiting(), 0.0) for _ in range(200)])
    first = queue.take()
    assert first is not None and len(first.batch) == 64  # max_batch_tokens / 256
    for _ in range(3):
        queue.observe_batch(64, MAX_TOKENS, MAX_TOKENS, 1.1)
    budget = queue.batch_tokens
    assert budget < MAX_TOKENS
    second = queue.take()
    assert second is not None and len(second.batch) == budget // 256
