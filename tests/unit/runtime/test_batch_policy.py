"""The batching policy alone: pure function, no threads."""

from __future__ import annotations

import random

import pytest

from bei_cli.runtime.batch_policy import queued_cost, select_batch


def padded_cost(lengths: list[int], chosen: list[int]) -> int:
    return len(chosen) * max(lengths[i] for i in chosen)


def test_empty_queue_gives_empty_batch() -> None:
    assert select_batch([], max_tokens=100, max_size=8, window=32) == []


def test_oldest_is_always_included_even_when_too_long() -> None:
    assert select_batch([500, 1, 1], max_tokens=100, max_size=8, window=32) == [0]


@pytest.mark.parametrize("seed", range(20))
def test_budget_size_and_window_hold(seed: int) -> None:
    rng = random.Random(seed)
    lengths = [rng.randint(1, 128) for _ in range(rng.randint(1, 300))]
    chosen = select_batch(lengths, max_tokens=1024, max_size=16, window=64)
    assert 0 in chosen
    assert chosen == sorted(set(chosen))
    assert len(chosen) <= 16
    assert all(i < 64 for i in chosen)
    assert padded_cost(lengths, chosen) <= max(1024, lengths[0])


def test_batch_fills_up_to_the_size_limit() -> None:
    assert select_batch([10] * 50, max_tokens=10_000, max_size=8, window=32) == list(range(8))


def test_similar_lengths_are_grouped_to_cut_padding() -> None:
    # FIFO would batch 4, 100, 5, 100 (cost 400); the policy takes the short ones.
    lengths = [4, 100, 5, 100, 6, 3]
    chosen = select_batch(lengths, max_tokens=24, max_size=4, window=8)
    assert chosen == [0, 2, 4, 5]
    assert padded_cost(lengths, chosen) == 24


def test_longer_items_join_when_they_fit() -> None:
    lengths = [10, 12, 11, 9]
    assert select_batch(lengths, max_tokens=48, max_size=8, window=8) == [0, 1, 2, 3]


def test_nothing_starves_under_a_stream_of_short_inputs() -> None:
    """A long input waits at most until it is the oldest, however many short ones arrive."""
    queue = [3] * 10 + [200] + [3] * 10
    batches = 0
    while 200 in queue:
        chosen = select_batch(queue, max_tokens=256, max_size=8, window=32)
        queue = [length for i, length in enumerate(queue) if i not in chosen] + [3] * 8
        batches += 1
    assert batches <= 11


def fifo_batch(lengths: list[int], max_tokens: int, max_size: int) -> list[int]:
    """TEI's policy: oldest first until the padded budget or the size cap would be exceeded."""
    chosen = [0]
    while len(chosen) < min(max_size, len(lengths)):
        nxt = len(chosen)
        if (nxt + 1) * max(lengths[: nxt + 1]) > max_tokens:
            break
        chosen.append(nxt)
    return chosen


def test_padding_is_lower_than_fifo_on_mixed_lengths() -> None:
    rng = random.Random(7)
    lengths = [rng.choice([8, 8, 8, 250]) for _ in range(400)]

    def drain(policy: str) -> tuple[int, int]:
        queue, cost, batches = list(lengths), 0, 0
        while queue:
            if policy == "fifo":
                chosen = fifo_batch(queue, 4096, 32)
            else:
                chosen = select_batch(queue, max_tokens=4096, max_size=32, window=128)
            cost += padded_cost(queue, chosen)
            batches += 1
            queue = [length for i, length in enumerate(queue) if i not in chosen]
        return cost, batches

    sorted_cost, sorted_batches = drain("sorted")
    fifo_cost, fifo_batches = drain("fifo")
    assert sorted_cost < 0.5 * fifo_cost
    assert sorted_batches <= fifo_batches


def test_padding_free_takes_the_oldest_while_their_real_tokens_fit() -> None:
    lengths = [100, 1, 1, 100, 1]
    assert select_batch(lengths, max_tokens=102, max_size=8, window=32, padded=False) == [0, 1, 2]
    assert select_batch(lengths, max_tokens=1000, max_size=2, window=32, padded=False) == [0, 1]
    assert select_batch([500, 1], max_tokens=100, max_size=8, window=32, padded=False) == [0]


def test_queued_cost_pads_to_a_power_of_two_only_for_a_padding_engine() -> None:
    assert [queued_cost(n, padded=True) for n in (1, 2, 3, 7, 8, 9, 300)] == [
        1,
        2,
        4,
        8,
        8,
        16,
        512,
    ]
    assert queued_cost(300, padded=False) == 300
