"""The character window that bounds tokenization gives exactly the whole text's tokens, for text
without whitespace too (CJK, punctuation runs, emoji, added tokens cut by the window), on the
three pre-tokenizer families: BERT's (the real MiniLM tokenizer), ByteLevel BPE and Metaspace
Unigram (trained here with the `tokenizers` library, the layout the hub publishes). The
reference is the same tokenizer.json encoding the whole text with truncation."""

from __future__ import annotations

import random

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from bei_cli.errors import InputTooLongError
from bei_cli.server.tokenizer import (
    MAX_WINDOW_CHARS,
    WINDOW_CHARS_PER_TOKEN,
    Direction,
    TextTokenizer,
)
from tests.fixtures.models import minilm_dir

MAX_SEQ_LEN = 64
CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "日本語のテキストと中文混合、句読点。",
    "emoji 🤗🚀 and symbols ∑∫≈ !!! ??? ... ,,, ;;;",
    "Ελληνικά Русский עברית العربية",
    "[MASK] tokens, numbers 12345 and don't stop",
]


def _mixed(count: int, seed: int) -> str:
    rng = random.Random(seed)
    pieces = ["中文", "日本語", "!", "...", "🤗", "🚀", "abc", "def", " ", "\n", "[MASK]", "42"]
    return "".join(rng.choice(pieces) for _ in range(count))


ADVERSARIAL = {
    "cjk": "中文日本語テキスト" * 3_000,
    "punctuation": "!?.,;:-" * 4_000,
    "one punctuation char": "!" * 30_000,
    "emoji": "🤗🚀✨" * 8_000,
    "mixed": _mixed(10_000, seed=0),
    "mixed with spaces": _mixed(10_000, seed=1).replace("abc", " abc "),
    "no whitespace ascii": "unbroken" * 4_000,
    "added tokens": "[MASK]" * 4_000,
    "cjk after a long space run": " " * 5_000 + "中文" * 2_000,
    "combining accents": "e\u0301" * 10_000,
}


def _trained(
    model: models.Model,
    trainer: trainers.Trainer,
    pre: pre_tokenizers.PreTokenizer,
    decoder: decoders.Decoder,
) -> str:
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre
    tokenizer.decoder = decoder
    tokenizer.train_from_iterator(CORPUS * 20, trainer)
    tokenizer.add_special_tokens(["<s>", "</s>"])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> $B </s>",
        special_tokens=[
            ("<s>", tokenizer.token_to_id("<s>")),
            ("</s>", tokenizer.token_to_id("</s>")),
        ],
    )
    return tokenizer.to_str()


def _byte_level_bpe() -> str:
    return _trained(
        models.BPE(),
        trainers.BpeTrainer(
            vocab_size=400,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
        decoders.ByteLevel(),
    )


def _metaspace_unigram() -> str:
    return _trained(
        models.Unigram(),
        trainers.UnigramTrainer(
            vocab_size=200, unk_token="<unk>", special_tokens=["<unk>"], show_progress=False
        ),
        pre_tokenizers.Metaspace(),
        decoders.Metaspace(),
    )


TOKENIZERS = {
    "bert": lambda: (minilm_dir() / "tokenizer.json").read_text(encoding="utf-8"),
    "byte-level-bpe": _byte_level_bpe,
    "metaspace-unigram": _metaspace_unigram,
}


@pytest.fixture(scope="module", params=sorted(TOKENIZERS))
def tokenizer_json(request: pytest.FixtureRequest) -> str:
    return TOKENIZERS[request.param]()


def reference_ids(tokenizer_json: str, text: str, side: Direction | None) -> list[int]:
    """The whole text encoded by the `tokenizers` library; side None: untruncated."""
    reference = Tokenizer.from_str(tokenizer_json)
    reference.no_padding()
    reference.no_truncation()
    if side is not None:
        reference.enable_truncation(MAX_SEQ_LEN, direction=side)
    return list(reference.encode(text).ids)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_window_equals_the_whole_text_truncated(
    tokenizer_json: str, name: str, side: Direction
) -> None:
    text = ADVERSARIAL[name]
    ours = TextTokenizer(tokenizer_json, MAX_SEQ_LEN).encode([text], truncate=True, direction=side)
    assert ours == [reference_ids(tokenizer_json, text, side)]


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_without_truncation_the_error_counts_tokens(tokenizer_json: str, name: str) -> None:
    text = ADVERSARIAL[name]
    total = len(reference_ids(tokenizer_json, text, None))
    tokenizer = TextTokenizer(tokenizer_json, MAX_SEQ_LEN)
    if total <= MAX_SEQ_LEN:
        assert tokenizer.encode([text], truncate=False) == [
            reference_ids(tokenizer_json, text, None)
        ]
        return
    with pytest.raises(InputTooLongError) as caught:
        tokenizer.encode([text], truncate=False)
    given = caught.value.message.rsplit("Given: ", 1)[1]
    assert given in (str(total), f"more than {MAX_SEQ_LEN}")


def test_short_window_cut_inside_added_tokens_is_exact(tokenizer_json: str) -> None:
    tokenizer = TextTokenizer(tokenizer_json, MAX_SEQ_LEN)
    for shift in range(8):  # every cut position relative to "[MASK]"
        text = "x" * shift + "[MASK]" * 300
        for side in ("right", "left"):
            ours = tokenizer.encode([text], truncate=True, direction=side)  # type: ignore[arg-type]
            assert ours == [reference_ids(tokenizer_json, text, side)]  # type: ignore[arg-type]


SEP = "<|sep|>"  # an added token with punctuation inside: a cut splits it into several words


def _bert_with_sep() -> str:
    tokenizer = Tokenizer.from_str(TOKENIZERS["bert"]())
    tokenizer.add_special_tokens([SEP])
    return tokenizer.to_str()


def _cut_cases() -> list[str]:
    """BERT texts whose first window holds just enough tokens, the last one kept next to the
    cut: in an added token the cut splits ("<|s|ep|>"), or in a word the cut shortens below
    WordPiece's 100-character limit (whole, the word is one [UNK])."""
    window = WINDOW_CHARS_PER_TOKEN * (MAX_SEQ_LEN - 2)
    kept = MAX_SEQ_LEN - 3  # "!" tokens before the one at risk
    return [
        " " * (window - kept - 3) + "!" * kept + SEP + " tail",
        " " * (window - kept - 40) + "!" * kept + "abcdefghij" * 14 + " tail",
    ]


@pytest.mark.parametrize("case", [0, 1])
def test_kept_tokens_next_to_the_cut_are_not_trusted(case: int) -> None:
    tokenizer_json = _bert_with_sep()
    tokenizer = TextTokenizer(tokenizer_json, MAX_SEQ_LEN)
    text = _cut_cases()[case]
    assert tokenizer.encode([text], truncate=True) == [reference_ids(tokenizer_json, text, "right")]
    mirrored = text[::-1].replace(SEP[::-1], SEP)
    assert tokenizer.encode([mirrored], truncate=True, direction="left") == [
        reference_ids(tokenizer_json, mirrored, "left")
    ]


def test_huge_cjk_and_punctuation_cost_one_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # ~8 MB of UTF-8 each: whole, they take seconds and gigabytes; a window holds the answer.
    tokenizer_json = TOKENIZERS["bert"]()
    tokenizer = TextTokenizer(tokenizer_json, MAX_SEQ_LEN)
    encoded: list[int] = []
    plain = tokenizer._plain
    monkeypatch.setattr(tokenizer, "_plain", _Spy(plain, encoded), raising=True)
    for text in ("中" * 2_800_000, "!" * 8_000_000):
        for side in ("right", "left"):
            ours = tokenizer.encode([text], truncate=True, direction=side)  # type: ignore[arg-type]
            part = text[:20_000] if side == "right" else text[-20_000:]
            assert ours == [reference_ids(tokenizer_json, part, side)]  # type: ignore[arg-type]
    assert encoded and max(encoded) <= 8 * MAX_SEQ_LEN  # the first window decided each


class _Spy:
    """A Tokenizer that records how many characters each encode() call was given."""

    def __init__(self, inner: Tokenizer, lengths: list[int]) -> None:
        self._inner, self._lengths = inner, lengths

    def encode(self, text: str, **kwargs: object) -> object:
        self._lengths.append(len(text))
        return self._inner.encode(text, **kwargs)


def test_a_text_without_boundaries_beyond_the_window_is_refused() -> None:
    tokenizer = TextTokenizer(TOKENIZERS["byte-level-bpe"](), MAX_SEQ_LEN)
    with pytest.raises(InputTooLongError, match="no word boundary") as caught:
        tokenizer.encode(["!" * (MAX_WINDOW_CHARS + 1)], truncate=True, param="input")
    assert caught.value.param == "input" and caught.value.hint


PAIR_TEXTS = {
    "query": "what is the capital of 日本?",
    "forty tokens": "alpha beta! " * 20,
    "cjk": ADVERSARIAL["cjk"][:4_000],  # each long side: far beyond the 496-character window
    "punctuation": ADVERSARIAL["punctuation"][:4_000],
    "mixed": ADVERSARIAL["mixed with spaces"][:4_000],
}


@pytest.mark.parametrize("max_seq_len", [64, 65])  # odd and even pair budgets
@pytest.mark.parametrize("side", ["right", "left"])
def test_pairs_with_a_long_side_equal_the_whole_pair_truncated(
    tokenizer_json: str, side: Direction, max_seq_len: int
) -> None:
    reference = Tokenizer.from_str(tokenizer_json)
    reference.no_padding()
    reference.enable_truncation(max_seq_len, direction=side)
    tokenizer = TextTokenizer(tokenizer_json, max_seq_len)
    pairs = [
        (a, b)
        for a in PAIR_TEXTS.values()
        for b in PAIR_TEXTS.values()
        if len(a) < 1_000 or len(b) < 1_000  # one long side at most: the windowed case
    ]
    ours = tokenizer.encode_pairs(pairs, truncate=True, direction=side)
    theirs = [reference.encode(a, b) for a, b in pairs]
    assert ours == [(list(e.ids), list(e.type_ids)) for e in theirs]


def test_a_pair_with_a_long_side_costs_one_window(monkeypatch: pytest.MonkeyPatch) -> None:
    tokenizer = TextTokenizer(TOKENIZERS["bert"](), MAX_SEQ_LEN)
    encoded: list[int] = []
    monkeypatch.setattr(tokenizer, "_plain", _Spy(tokenizer._plain, encoded))
    tokenizer.encode_pairs([("query", "中" * 2_800_000)], truncate=True)
    assert encoded and max(encoded) <= 8 * MAX_SEQ_LEN
