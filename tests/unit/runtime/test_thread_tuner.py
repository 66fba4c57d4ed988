"""The tuner runs the engine on the thread count that served the most padded tokens per engine
second over its recent windows, keeps trying the others so it follows the load, and leaves an
idle engine on every thread. Batches here run on a simulated clock: a count's cost model says
how long a batch of a given size takes on it."""

from __future__ import annotations

from collections.abc import Callable

from bei_cli.runtime.thread_tuner import (
    EXPLORE_EVERY,
    MAX_BACKOFF,
    WINDOW_BATCHES,
    WINDOW_S,
    ThreadTuner,
)

Cost = Callable[[int, int], float]  # (count, padded tokens) -> seconds


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def per_token(seconds: dict[int, float]) -> Cost:
    return lambda count, tokens: seconds[count] * tokens


def drive(
    tuner: ThreadTuner,
    clock: Clock,
    cost: Cost,
    batches: int,
    *,
    tokens: Callable[[int, int], int] = lambda count, i: 1000,
    idle_s: float = 0.0,
) -> list[int | None]:
    """`batches` batches: choose, run (the clock moves by the batch's cost), observe, then the
    engine waits `idle_s` for the next one."""
    used: list[int | None] = []
    for i in range(batches):
        count = tuner.choose()
        used.append(count)
        ran_on = tuner.counts[0] if count is None else count
        size = tokens(ran_on, i)
        seconds = cost(ran_on, size)
        clock.now += seconds
        tuner.observe(count, size, seconds)
        clock.now += idle_s
    return used


def windows(cost_s: float) -> int:
    """Batches in one window when each batch takes `cost_s` (plus the uncounted first)."""
    return max(WINDOW_BATCHES, int(WINDOW_S / cost_s) + 1) + 1


def test_it_settles_on_the_faster_count_and_follows_a_change() -> None:
    applied: list[int] = []
    clock = Clock()
    tuner = ThreadTuner((2, 1), applied.append, clock)
    free_cores = per_token({2: 1e-5, 1: 2.3e-5})  # 2 threads fastest while the cores are free
    used = drive(tuner, clock, free_cores, 2000)
    measured = [count for count in used if count is not None]  # the first: the engine was idle
    assert measured[0] == 2 and 1 in measured[: 4 * windows(0.023)]  # each count measured first
    assert tuner.best == 2
    assert used[-1000:].count(2) >= 0.85 * 1000  # exploits, with short trials of 1
    assert 1 in used[-1000:]
    contended = per_token({2: 4e-5, 1: 2.5e-5})  # the cores are shared: one thread does better
    used = drive(tuner, clock, contended, 2000)
    assert tuner.best == 1
    assert used[-1000:].count(1) >= 0.85 * 1000
    assert applied == [c for i, c in enumerate(applied) if i == 0 or applied[i - 1] != c]


def test_a_count_whose_batches_arrive_smaller_loses() -> None:
    """2 threads cost less per token at equal sizes, but while they run the front-ends starve
    and their batches carry a fifth of the tokens: with a fixed cost per batch, 1 thread serves
    more tokens per engine second, and that is what the tuner keeps."""
    clock = Clock()
    tuner = ThreadTuner((2, 1), lambda _: None, clock)

    def fixed_plus_per_token(count: int, tokens: int) -> float:
        return 0.004 + {2: 4e-5, 1: 6e-5}[count] * tokens

    used = drive(
        tuner, clock, fixed_plus_per_token, 3000, tokens=lambda c, i: 30 if c == 2 else 150
    )
    assert tuner.best == 1
    assert used[-1000:].count(1) >= 0.8 * 1000  # trials of 2 run more, shorter, batches


def test_the_first_batch_after_a_switch_and_one_bad_window_do_not_decide() -> None:
    """The first batch after a switch to 2 threads is slow (waking them), and one window of 2
    threads is ruined by preemption: the tuner still keeps 2 threads."""
    clock = Clock()
    tuner = ThreadTuner((2, 1), lambda _: None, clock)
    last: list[int | None] = [None]
    preempted = {"left": 0}

    def cost(count: int, tokens: int) -> float:
        switched, last[0] = last[0] != count, count
        seconds = {2: 1e-5, 1: 2e-5}[count] * tokens
        if preempted["left"] > 0 and count == 2:
            preempted["left"] -= 1
            seconds *= 10
        return seconds * (100 if switched and count == 2 else 1)  # waking its threads

    drive(tuner, clock, cost, 1000)
    assert tuner.best == 2
    preempted["left"] = windows(0.1)  # one whole window of 2 threads runs 10x slower
    used = drive(tuner, clock, cost, 1000)
    assert tuner.best == 2
    assert used[-500:].count(2) >= 0.85 * 500


def test_it_only_switches_threads_when_the_count_changes() -> None:
    applied: list[int] = []
    clock = Clock()
    tuner = ThreadTuner((4, 1), applied.append, clock)
    drive(tuner, clock, per_token({4: 1e-5, 1: 1e-4}), windows(0.01) + windows(0.1) + 5)
    assert applied == [4, 1, 4]


def test_a_much_slower_count_is_tried_less_often() -> None:
    """Trial windows of a count ten times slower come every MAX_BACKOFF * EXPLORE_EVERY windows,
    not every EXPLORE_EVERY: they would otherwise take most of the engine's time."""
    clock = Clock()
    tuner = ThreadTuner((2, 1), lambda _: None, clock)
    drive(tuner, clock, per_token({2: 1e-5, 1: 1e-4}), 200)
    start = clock.now
    used = drive(tuner, clock, per_token({2: 1e-5, 1: 1e-4}), 20000)
    slow_s = sum(1e-4 * 1000 for count in used if count == 1)
    best_windows = (clock.now - start - slow_s) / WINDOW_S
    trials = slow_s / WINDOW_S
    assert best_windows / (MAX_BACKOFF * EXPLORE_EVERY + 2) <= trials + 1
    assert trials <= best_windows / (EXPLORE_EVERY * 2)


def test_an_idle_engine_runs_every_batch_on_every_thread_unmeasured() -> None:
    """Light load: a lone batch's latency is what counts, so it runs on the default count even
    where 1 thread measured faster under load, and no trial slows it."""
    applied: list[int] = []
    clock = Clock()
    tuner = ThreadTuner((2, 1), applied.append, clock)
    drive(tuner, clock, per_token({2: 4e-5, 1: 2.5e-5}), 3000)
    assert tuner.best == 1 and applied[-1] == 1
    used = drive(
        tuner, clock, per_token({2: 4e-5, 1: 2.5e-5}), 200, tokens=lambda c, i: 40, idle_s=0.05
    )
    assert used[-150:] == [None] * 150
    assert applied[-1] == 2
    used = drive(tuner, clock, per_token({2: 4e-5, 1: 2.5e-5}), 200)  # busy again
    assert used[-100:].count(1) >= 85
