"""Did-you-mean for config keys and values."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(value: object, candidates: Iterable[str]) -> str | None:
    """The candidate the user most likely meant, or None.

    Case and surrounding whitespace mistakes (`hf`, `l4`, `"encoder "`) win over edit distance,
    because those are the typos real configs contain.
    """
    options = [c for c in candidates if c]
    text = str(value)
    folded = text.strip().casefold()
    for option in options:
        if option.casefold() == folded:
            return option
    matches = difflib.get_close_matches(text.strip(), options, n=1, cutoff=0.6)
    if matches:
        return matches[0]
    by_fold = {o.casefold(): o for o in options}
    matches = difflib.get_close_matches(folded, list(by_fold), n=1, cutoff=0.6)
    if matches:
        return by_fold[matches[0]]
    # A fragment of a longer name: `bert` -> `encoder_bert`, `int8` -> `weights_int8`.
    containing = sorted((o for o in options if folded and folded in o.casefold()), key=len)
    return containing[0] if len(folded) >= 3 and containing else None
