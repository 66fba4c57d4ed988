"""Which queued sequences form the next engine batch: a pure function, tested without threads.

Cost model: the engine states it (`EngineInfo.padded`). A padding engine (torch, onnx) pads a
batch to its longest sequence, so a batch of n sequences of longest length L costs n * L tokens;
a padding-free one costs the sum of the lengths. The cost must stay within `max_tokens`, and n
within `max_size`.

Policy (TEI's token-budget queue plus Infinity's length sorting):
- the oldest queued sequence is always in the batch, so nothing starves: every sequence is in
  the batch formed once it has become the oldest;
- padded: the rest come from a window of the oldest `window` sequences, chosen by length to
  keep padding low: starting from the oldest one, grow a run of neighbours in length order, each
  step adding whichever neighbour (next shorter / next longer) wastes fewer padded tokens, until
  neither fits the budget;
- padding-free: nothing is wasted by mixing lengths, so the oldest sequences in order, while
  they fit.
"""

from __future__ import annotations

from collections.abc import Sequence


def select_batch(
    lengths: Sequence[int], *, max_tokens: int, max_size: int, window: int, padded: bool = True
) -> list[int]:
    """Indices (into the FIFO-ordered `lengths`, oldest first) of the next batch, ascending.

    Always returns index 0 when `lengths` is non-empty, even if it alone exceeds `max_tokens`.
    """
    if not lengths:
        return []
    if not padded:
        return _oldest_that_fit(lengths, max_tokens=max_tokens, max_size=max_size)
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


def _oldest_that_fit(lengths: Sequence[int], *, max_tokens: int, max_size: int) -> list[int]:
    total, count = lengths[0], 1
    while count < min(max_size, len(lengths)) and total + lengths[count] <= max_tokens:
        total += lengths[count]
        count += 1
    return list(range(count))


def queued_cost(length: int, *, padded: bool) -> int:
    """What one waiting sequence adds to the queue's cost (`EngineClient.queued_tokens`).

    Padding-free: its length. Padded: an estimate, since its batch is not formed yet -- its
    length rounded up to a power of two: length sorting puts it with neighbours of similar
    length, so the batch's longest sequence is rarely more than twice its own.
    """
    return 1 << max(length - 1, 0).bit_length() if padded else length
