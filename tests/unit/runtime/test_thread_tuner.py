"""The tuner runs the engine on the thread count whose batches cost least per padded token, and
keeps trying the other, so it follows the load when the cheapest count changes."""

from __future__ import annotations

from bei_cli.runtime.thread_tuner import EXPLORE_EVERY, MAX_BACKOFF, ThreadTuner


def drive(tuner: ThreadTuner, cost: dict[int, float], batches: int) -> list[int]:
    used = []
    for _ in range(batches):
        count = tuner.choose()
        assert count is not None
        used.append(count)
        tuner.observe(count, 1000, cost[count] * 1000)
    return used


def test_it_settles_on_the_cheapest_count_and_follows_a_change() -> None:
    applied: list[int] = []
    tuner = ThreadTuner((2, 1), applied.append)
    free_cores = {2: 1e-5, 1: 2.3e-5}  # 2 threads fastest while the cores are free
    used = drive(tuner, free_cores, 100)
    assert used[:2] == [2, 1]  # each count measured once first
    assert tuner.best == 2
    assert used[2:].count(2) >= 0.85 * len(used[2:])  # exploits, with short trials of 1
    assert 1 in used[2 + EXPLORE_EVERY :]
    contended = {2: 4e-5, 1: 2.5e-5}  # the cores are shared: one thread does better
    used = drive(tuner, contended, 100)
    assert tuner.best == 1
    assert used[-50:].count(1) >= 0.85 * 50
    assert applied == [c for i, c in enumerate(applied) if i == 0 or applied[i - 1] != c]


def test_it_only_switches_threads_when_the_count_changes() -> None:
    applied: list[int] = []
    tuner = ThreadTuner((4, 1), applied.append)
    drive(tuner, {4: 1e-6, 1: 1e-5}, 12)
    assert applied == [4, 1, 4]


def test_a_much_slower_count_is_tried_less_often() -> None:
    """Trials of a count ten times slower come every MAX_BACKOFF * EXPLORE_EVERY batches, not
    every EXPLORE_EVERY: they would otherwise take most of the engine's time."""
    tuner = ThreadTuner((2, 1), lambda _: None)
    used = drive(tuner, {2: 1e-5, 1: 1e-4}, 2 + 400)[2:]
    trials = used.count(1)
    assert 2 * 400 // int(MAX_BACKOFF * EXPLORE_EVERY + 2) <= trials <= 2 * 400 // 50


def test_with_nothing_waiting_a_batch_runs_on_every_thread_unmeasured() -> None:
    """Light load: a lone batch's latency is what counts, so it runs on the default count even
    where 1 thread measured cheaper under load, and no trial slows it."""
    applied: list[int] = []
    tuner = ThreadTuner((2, 1), applied.append)
    drive(tuner, {2: 4e-5, 1: 2.5e-5}, 30)
    assert tuner.best == 1
    assert [tuner.choose(waiting=False) for _ in range(100)] == [None] * 100
    assert applied[-1] == 2
    assert tuner.choose(waiting=True) == 1 and applied[-1] == 1
