"""TextTokenizer gives exactly the ids transformers' tokenizer gives for the real MiniLM."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bei_cli.errors import EmptyInputError, InputTooLongError, InvalidRequestError
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.models import minilm_dir
from tests.unit.server.support import MAX_SEQ_LEN

TEXTS = [
    "Hello, world!",
    "  leading and trailing spaces  ",
    "Ünïcödé façade naïve café déjà vu",
    "日本語のテキストと中文混合",
    "emoji 🤗🚀 and symbols ∑∫≈",
    "Ελληνικά Русский עברית العربية",
    "tabs\tand\nnewlines\r\nmixed",
    "e\u0301 combining accents and \u00a0no-break space",
    "control\x00chars\x07here",
    "x" * 300,
    "a",
]


def words(count: int, seed: int = 0, max_spaces: int = 1) -> str:
    rng = random.Random(seed)
    vocab = ["alpha", "Beta", "gämma", "δέλτα", "epsilon!", "zeta?", "東京", "42", "don't", "x-ray"]
    return "".join(rng.choice(vocab) + " " * rng.randint(1, max_spaces) for _ in range(count))


LONG_TEXTS = [
    words(400),
    words(3000, seed=1),  # far beyond the first character window
    words(3000, seed=2, max_spaces=40),  # many characters per token: the window must grow
    "unbroken" * 5000,  # no whitespace at all: no safe cut, whole text is tokenized
    " " * 20000 + words(50),  # leading whitespace run, few tokens
    words(2000, seed=3) + "\n" * 5000,
]


@pytest.fixture(scope="module")
def reference() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_dir()))


def reference_ids(reference: Any, texts: list[str], side: str = "right") -> list[list[int]]:
    reference.truncation_side = side
    encoded = reference(texts, truncation=True, max_length=MAX_SEQ_LEN)
    return [list(ids) for ids in encoded["input_ids"]]


def test_ids_match_transformers(tokenizer: TextTokenizer, reference: Any) -> None:
    assert tokenizer.encode(TEXTS, truncate=False) == reference_ids(reference, TEXTS)


@pytest.mark.parametrize("side", ["right", "left"])
def test_truncation_matches_transformers(
    tokenizer: TextTokenizer, reference: Any, side: str
) -> None:
    ours = tokenizer.encode(LONG_TEXTS, truncate=True, direction=side)  # type: ignore[arg-type]
    theirs = reference_ids(reference, LONG_TEXTS, side)
    assert [len(ids) for ids in ours] == [len(ids) for ids in theirs]
    assert ours == theirs
    assert max(len(ids) for ids in ours) == MAX_SEQ_LEN


def test_prompt_is_prepended_to_the_text(tokenizer: TextTokenizer, reference: Any) -> None:
    ours = tokenizer.encode(["what is bei?"], truncate=True, prompt="query: ")
    assert ours == reference_ids(reference, ["query: what is bei?"])


def test_too_long_without_truncation_names_the_count(
    tokenizer: TextTokenizer, reference: Any
) -> None:
    text = words(400)
    given = len(reference([text])["input_ids"][0])
    with pytest.raises(InputTooLongError) as caught:
        tokenizer.encode([text], truncate=False, param="input")
    err = caught.value
    assert err.message == f"`inputs` must have less than {MAX_SEQ_LEN} tokens. Given: {given}"
    assert err.hint is not None and "truncate=true" in err.hint
    assert err.param == "input" and err.http_status == 422


def test_huge_text_is_refused_from_a_window(tokenizer: TextTokenizer) -> None:
    with pytest.raises(InputTooLongError, match="Given: more than"):
        tokenizer.encode([words(200_000)], truncate=False)


def test_text_long_in_characters_but_short_in_tokens_is_accepted(
    tokenizer: TextTokenizer, reference: Any
) -> None:
    text = "hello" + " " * 50_000 + "world"
    assert tokenizer.encode([text], truncate=False) == reference_ids(reference, [text])


def test_pretokenized_ids_pass_through_and_truncate(tokenizer: TextTokenizer) -> None:
    ids = list(range(1000, 1000 + MAX_SEQ_LEN + 10))
    assert tokenizer.encode_ids([[101, 7592, 102]], truncate=False) == [[101, 7592, 102]]
    assert tokenizer.encode_ids([ids], truncate=True) == [ids[:MAX_SEQ_LEN]]
    assert tokenizer.encode_ids([ids], truncate=True, direction="left") == [ids[-MAX_SEQ_LEN:]]
    with pytest.raises(InputTooLongError, match=f"Given: {len(ids)}"):
        tokenizer.encode_ids([ids], truncate=False)


@pytest.mark.parametrize("bad", [[-1], [tokenizer_vocab := 30522], [5, 10**9]])
def test_pretokenized_ids_outside_the_vocabulary_are_refused(
    tokenizer: TextTokenizer, bad: list[int]
) -> None:
    assert tokenizer.vocab_size == tokenizer_vocab
    with pytest.raises(InvalidRequestError, match="between 0 and 30521"):
        tokenizer.encode_ids([bad], truncate=True)


def test_empty_pretokenized_input_is_refused(tokenizer: TextTokenizer) -> None:
    with pytest.raises(EmptyInputError):
        tokenizer.encode_ids([[]], truncate=True)


def test_count_tokens_is_untruncated(tokenizer: TextTokenizer, reference: Any) -> None:
    texts = [*TEXTS, words(400)]
    assert tokenizer.count_tokens(texts) == [len(ids) for ids in reference(texts)["input_ids"]]


def test_tokenizer_json_padding_and_truncation_are_ignored(tokenizer: TextTokenizer) -> None:
    # MiniLM's tokenizer.json pads to 128 and truncates at 128; we decide both ourselves.
    assert len(tokenizer.encode(["short"], truncate=True)[0]) == 3
    assert len(tokenizer.encode([words(400)], truncate=True)[0]) == MAX_SEQ_LEN


def test_concurrent_use_from_threads_is_consistent(tokenizer: TextTokenizer) -> None:
    texts = [words(300, seed=s) for s in range(8)]
    expected = {
        side: tokenizer.encode(texts, truncate=True, direction=side)  # type: ignore[arg-type]
        for side in ("left", "right")
    }
    jobs = [("left", "right")[i % 2] for i in range(32)]
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda side: (side, tokenizer.encode(texts, truncate=True, direction=side)), jobs
            )
        )
    assert all(ids == expected[side] for side, ids in results)


def test_huge_text_with_truncation_costs_only_a_window(tokenizer: TextTokenizer) -> None:
    import time

    text = words(600_000)  # ~4.5 MB: tokenizing it whole takes seconds
    started = time.perf_counter()
    ids = tokenizer.encode([text], truncate=True)[0]
    assert time.perf_counter() - started < 1.0
    assert ids == tokenizer.encode([text[:20_000]], truncate=True)[0]
