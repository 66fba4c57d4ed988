"""Pair tokenization equals transformers' `tokenizer(pairs, truncation=True)` (what
sentence-transformers' CrossEncoder calls), and NER spans equal its offsets mapping."""

from __future__ import annotations

from typing import Any

import pytest

from bei_cli.errors import InputTooLongError
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.models import minilm_dir

MAX = 24
PAIRS = [
    ("short query", "short text"),
    ("what is the capital of france?", " ".join(f"w{i}" for i in range(60))),
    (" ".join(f"q{i}" for i in range(40)), "a tiny document"),
    (" ".join(f"q{i}" for i in range(40)), " ".join(f"d{i}" for i in range(50))),
    ("Zürich café", "naïve façade ünïcödé"),
]


@pytest.fixture(scope="module")
def reference() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_dir()))


@pytest.mark.parametrize("side", ["right", "left"])
def test_pairs_match_transformers_longest_first(reference: Any, side: str) -> None:
    ours = TextTokenizer.from_dir(minilm_dir(), MAX)
    reference.truncation_side = side
    want = reference(
        [list(p) for p in PAIRS], truncation=True, max_length=MAX, return_token_type_ids=True
    )
    got = ours.encode_pairs(PAIRS, truncate=True, direction=side)  # type: ignore[arg-type]
    assert [ids for ids, _ in got] == want["input_ids"]
    assert [types for _, types in got] == want["token_type_ids"]


def test_singles_in_a_pair_list_match_plain_encoding(tokenizer: TextTokenizer) -> None:
    got = tokenizer.encode_pairs([("hello world", None)], truncate=True)
    assert got == [(tokenizer.encode(["hello world"], truncate=True)[0], [0, 0, 0, 0])]


def test_long_pairs_without_truncation_are_refused() -> None:
    ours = TextTokenizer.from_dir(minilm_dir(), MAX)
    with pytest.raises(InputTooLongError, match="Given: "):
        ours.encode_pairs([PAIRS[1]], truncate=False, param="texts")


def test_spans_match_the_offsets_mapping(reference: Any, tokenizer: TextTokenizer) -> None:
    text = "Johnson lives in Zürich, near the U.K. border 🙂!"
    want = reference(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    (spans,) = tokenizer.encode_spans([text], truncate=True)
    assert spans.ids == want["input_ids"]
    assert spans.offsets == [tuple(o) for o in want["offset_mapping"]]
    assert spans.special == [bool(m) for m in want["special_tokens_mask"]]
    assert spans.tokens == reference.convert_ids_to_tokens(want["input_ids"])
    assert spans.word_ids == want.word_ids()
    assert tokenizer.join_tokens(["john", "##son", "u", ".", "k", "."]) == (
        reference.convert_tokens_to_string(["john", "##son", "u", ".", "k", "."])
    )
    assert tokenizer.subword_prefix == "##" and tokenizer.unk_id == reference.unk_token_id
