"""Which queued sequences form the next engine batch: a pure function, tested without threads.

Cost model: the torch engine pads a batch to its longest sequence, so a batch of n sequences of
longest length L costs n * L tokens; that must stay within `max_tokens`, and n within `max_size`.

Policy (TEI's token-budget queue plus Infinity's length sorting):
- the oldest queued sequence is always in the batch, so nothing starves: every sequence is in
  the batch formed once it has become the oldest;
- the rest come from a window of the oldest `window` sequences, chosen by length to keep
  padding low: starting from the oldest one, grow a run of neighbours in length order, each
  step adding whichever neighbour (next shorter / next longer) wastes fewer padded tokens, until
  neither fits the budget.
"""

from __future__ import annotations

from collections.abc import Sequence


def select_batch(
    lengths: Sequence[int], *, max_tokens: int, max_size: int, window: int
) -> list[int]:
    """Indices (into the FIFO-ordered `lengths`, oldest first) of the next batch, ascending.

    Always returns index 0 when `lengths` is non-empty, even if it alone exceeds `max_tokens`.
    """
    if not lengths:
        return []
    candidates = sorted(range(min(window, len(lengths))), key=lambda i: (lengths[i], i))
    start = candidates.index(0)
    low = high = start  # inclusive run in `candidates`
    longest = lengths[0]
    while high - low + 1 < max_size:
        size = high - low + 1
        # (padded tokens wasted, side): a shorter sequence pads itself up to `longest`; a longer
        # one pads every sequence already chosen up to its own length. Ties prefer shorter.
        options: list[tuple[int, int]] = []
        if low > 0 and (size + 1) * longest <= max_tokens:
            options.append((longest - lengths[candidates[low - 1]], -1))
        if high + 1 < len(candidates):
            longer = lengths[candidates[high + 1]]
            if (size + 1) * longer <= max_tokens:
                options.append((size * (longer - longest), +1))
        if not options:
            break
        _, side = min(options)
        if side < 0:
            low -= 1
        else:
            high += 1
            longest = lengths[candidates[high]]
    return sorted(candidates[low : high + 1])
