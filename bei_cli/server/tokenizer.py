"""TextTokenizer: texts (or pre-tokenized ids) to the token-id lists the engine runs.

Built from the checkpoint's own `tokenizer.json` with the `tokenizers` library -- the same Rust
tokenizer transformers' fast tokenizers wrap -- so ids match sentence-transformers exactly:
special tokens from the file's post-processor, prompt text prepended to the input (prompt + text),
truncation to `max_seq_len` counting special tokens, on the right or on the left. Padding is the
engine's job (a Batch is ragged). All methods are thread-safe: the tokenizer instances are
configured once here and never mutated afterwards.

Very long strings are not tokenized whole: only a window of characters that provably holds the
tokens kept (see `_encode_windowed`), so a multi-megabyte document with truncation -- prose, CJK
or a punctuation run alike -- costs about as much as its first few thousand characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tokenizers import Encoding, Tokenizer

from bei_cli.errors import EmptyInputError, InputTooLongError, InvalidRequestError

Direction = Literal["left", "right"]

# The first window holds this many characters per kept token; each retry quadruples it. English
# averages ~4-5 characters per token, so the first window almost always suffices.
WINDOW_CHARS_PER_TOKEN = 8
# Without truncation a too-long text is an error whose message names its exact token count; only
# texts beyond this many characters per allowed token are judged from a window ("more than N").
REFUSAL_CHARS_PER_TOKEN = 64
WINDOW_GROWTH = 4
# The window never grows beyond this many characters: a longer text whose kept tokens are not
# decided within it (one enormous word) is refused. Tokenizing that much costs ~0.5 s and ~50 MB.
MAX_WINDOW_CHARS = 1 << 19
# Characters kept clear of a window's cut beyond the longest added token's text: a cut may split
# an added token ("[MA|SK]") or a normalizer's composed character.
CUT_MARGIN_CHARS = 16
# Up to this many texts are encoded one by one: encode_batch dispatches to a Rayon pool and
# releases the GIL, which costs more than it saves for a few short texts (and far more when the
# engine thread holds the GIL: the call then waits for a GIL switch interval).
FEW_TEXTS = 8
FOREIGN_IDS_HINT = (
    "Token-id inputs must come from the model's own tokenizer (GET /tokenize gives them). "
    "langchain-openai's OpenAIEmbeddings sends tiktoken ids unless created with "
    "check_embedding_ctx_length=False; send text instead."
)
TRUNCATE_HINT = "Pass truncate=true to cut inputs to the model's maximum length, or shorten them."


@dataclass(frozen=True)
class TokenSpans:
    """One text's tokens and where each came from, for token classification (NER)."""

    ids: list[int]
    tokens: list[str]  # the tokenizer's token strings, e.g. "##ing"
    offsets: list[tuple[int, int]]  # character spans in the text
    special: list[bool]  # added by the post-processor ([CLS], [SEP], ...)
    word_ids: list[int | None]


# /tokenize's row: (id, text, special, start, stop).
TokenRow = tuple[int, str, bool, int | None, int | None]


def too_long(max_seq_len: int, given: int | str, param: str) -> InputTooLongError:
    return InputTooLongError(
        f"`inputs` must have less than {max_seq_len} tokens. Given: {given}",
        hint=TRUNCATE_HINT,
        param=param,
    )


class TextTokenizer:
    def __init__(self, tokenizer_json: str, max_seq_len: int) -> None:
        """`tokenizer_json`: the text of a tokenizer.json; `max_seq_len`: longest input, in
        tokens, special tokens included (the profile's `max_seq_len`)."""
        self.max_seq_len = max_seq_len
        self._plain = self._load(tokenizer_json, None)
        # post_process() applies the instance's truncation, then adds special tokens.
        self._finishers: dict[Direction, Tokenizer] = {
            "right": self._load(tokenizer_json, ("right", max_seq_len)),
            "left": self._load(tokenizer_json, ("left", max_seq_len)),
        }
        self.num_special_tokens = self._plain.num_special_tokens_to_add(is_pair=False)
        added = self._plain.get_added_tokens_decoder().values()
        self._margin = CUT_MARGIN_CHARS + max((len(token.content) for token in added), default=0)
        self.vocab_size = self._plain.get_vocab_size(with_added_tokens=True)
        # What transformers' NER pipeline reads from the tokenizer model to fuse sub-words.
        self.subword_prefix: str | None = getattr(
            self._plain.model, "continuing_subword_prefix", None
        )
        unk_token = getattr(self._plain.model, "unk_token", None)
        self.unk_id = self._plain.token_to_id(unk_token) if unk_token else None
        # Content tokens that fit next to the special tokens.
        self.content_budget = max_seq_len - self.num_special_tokens
        if self.content_budget < 1:
            raise InvalidRequestError(
                f"max_seq_len {max_seq_len} leaves no room next to "
                f"{self.num_special_tokens} special tokens."
            )

    @classmethod
    def from_dir(cls, directory: Path, max_seq_len: int) -> TextTokenizer:
        return cls((directory / "tokenizer.json").read_text(encoding="utf-8"), max_seq_len)

    @staticmethod
    def _load(tokenizer_json: str, truncation: tuple[Direction, int] | None) -> Tokenizer:
        tokenizer = Tokenizer.from_str(tokenizer_json)
        # tokenizer.json may carry fixed padding/truncation from export time; we decide both.
        tokenizer.no_padding()
        tokenizer.no_truncation()
        if truncation is not None:
            direction, max_length = truncation
            tokenizer.enable_truncation(max_length, direction=direction)
        return tokenizer

    def encode(
        self,
        texts: Sequence[str],
        *,
        truncate: bool,
        direction: Direction = "right",
        prompt: str | None = None,
        param: str = "inputs",
    ) -> list[list[int]]:
        """Token ids (special tokens included) of each text, prompt prepended.

        Raises InputTooLongError when a text is longer than `max_seq_len` and `truncate` is off.
        """
        if prompt:
            texts = [prompt + text for text in texts]
        per_token = WINDOW_CHARS_PER_TOKEN if truncate else REFUSAL_CHARS_PER_TOKEN
        window = self.content_budget * per_token
        short = [i for i, text in enumerate(texts) if len(text) <= window]
        ids: list[list[int]] = [[] for _ in texts]
        encodings = self._encode_plain([texts[i] for i in short])
        for i, encoding in zip(short, encodings, strict=True):
            ids[i] = self._finish(encoding, truncate, direction, param)
        for i, text in enumerate(texts):
            if len(text) > window:
                ids[i] = self._finish(
                    self._encode_windowed(text, window, truncate, direction, param),
                    truncate,
                    direction,
                    param,
                )
        return ids

    def _encode_plain(self, texts: list[str]) -> list[Encoding]:
        if len(texts) <= FEW_TEXTS:
            return [self._plain.encode(text, add_special_tokens=False) for text in texts]
        return list(self._plain.encode_batch(texts, add_special_tokens=False))

    def _finish(
        self, encoding: Encoding, truncate: bool, direction: Direction, param: str
    ) -> list[int]:
        if len(encoding) > self.content_budget and not truncate:
            raise too_long(self.max_seq_len, len(encoding) + self.num_special_tokens, param)
        return list(self._finishers[direction].post_process(encoding).ids)

    def _encode_windowed(
        self, text: str, window: int, truncate: bool, direction: Direction, param: str
    ) -> Encoding:
        """Encode only as much of `text` as decides the result.

        The tokens of a window cut from the text equal the whole text's tokens except in the
        pre-token (word) the cut falls in: every supported normalizer is character-local and
        every pre-tokenizer (BERT's whitespace/punctuation/CJK split, ByteLevel's and Split's
        regexes, Metaspace) decides a split from the characters around it, and the model runs
        on each pre-token alone. So once the window's `content_budget + 1` kept tokens lie in
        complete words, at least `margin` characters (an added token's length) from the cut,
        they are the answer. That holds for text without whitespace too -- CJK and punctuation
        are one pre-token per character for BERT. Otherwise the window grows; a text that still
        has no such boundary within `MAX_WINDOW_CHARS` is refused rather than tokenized whole:
        one pathological request must not hold a tokenizer thread and gigabytes for seconds.
        """
        side: Direction = direction if truncate else "right"
        needed = self.content_budget + 1
        while window < len(text) and window <= MAX_WINDOW_CHARS:
            part = text[:window] if side == "right" else text[-window:]
            encoding = self._plain.encode(part, add_special_tokens=False)
            if self._decided(encoding, needed, len(part), side):
                encoding.truncate(needed, direction=side)
                return self._checked(encoding, truncate, param)
            window *= WINDOW_GROWTH
        if len(text) > MAX_WINDOW_CHARS:
            raise InputTooLongError(
                f"`{param}` has a text of {len(text)} characters in which this model's "
                f"tokenizer finds no word boundary within the first {MAX_WINDOW_CHARS}.",
                hint="Send at most that many characters without whitespace or punctuation, or "
                "split the text.",
                param=param,
            )
        return self._plain.encode(text, add_special_tokens=False)

    def _decided(self, encoding: Encoding, needed: int, width: int, side: Direction) -> bool:
        """Whether the `needed` tokens at `side` of a window's encoding are the whole text's:
        none in the word the cut may split, none within `margin` characters of the cut."""
        if len(encoding) < needed:
            return False
        words = [w for w in encoding.word_ids if w is not None]
        if side == "right":
            word, (_, end) = encoding.word_ids[needed - 1], encoding.offsets[needed - 1]
            cut_word = words[-1] if words else None
            return end <= width - self._margin and (word is None or word != cut_word)
        word, (start, _) = encoding.word_ids[-needed], encoding.offsets[-needed]
        cut_word = words[0] if words else None
        return start >= self._margin and (word is None or word != cut_word)

    def _checked(self, encoding: Encoding, truncate: bool, param: str) -> Encoding:
        if not truncate:
            raise too_long(self.max_seq_len, f"more than {self.max_seq_len}", param)
        return encoding

    def encode_ids(
        self,
        sequences: Sequence[Sequence[int]],
        *,
        truncate: bool,
        direction: Direction = "right",
        param: str = "inputs",
    ) -> list[list[int]]:
        """Validate pre-tokenized inputs: ids are used as given (no special tokens added), cut to
        `max_seq_len` when truncating."""
        out: list[list[int]] = []
        for sequence in sequences:
            if not sequence:
                raise EmptyInputError("A token-id input cannot be empty.", param=param)
            if min(sequence) < 0 or max(sequence) >= self.vocab_size:
                raise InvalidRequestError(
                    f"Token ids must be between 0 and {self.vocab_size - 1} (this model's "
                    f"vocabulary), got {max(sequence) if min(sequence) >= 0 else min(sequence)}: "
                    "these ids come from another tokenizer.",
                    hint=FOREIGN_IDS_HINT,
                    param=param,
                )
            ids = list(sequence)
            if len(ids) > self.max_seq_len:
                if not truncate:
                    raise too_long(self.max_seq_len, len(ids), param)
                keep = self.max_seq_len
                ids = ids[:keep] if direction == "right" else ids[-keep:]
            out.append(ids)
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Untruncated token counts, special tokens included."""
        encodings = self._plain.encode_batch(list(texts), add_special_tokens=True)
        return [len(encoding) for encoding in encodings]

    def encode_pairs(
        self,
        pairs: Sequence[tuple[str, str | None]],
        *,
        truncate: bool,
        direction: Direction = "right",
        param: str = "inputs",
    ) -> list[tuple[list[int], list[int]]]:
        """(ids, token_type_ids) of each single text or (first, second) pair, special tokens
        included. Pairs are cut `longest_first` (the longer side loses a token at a time), as
        transformers' `tokenizer(pairs, truncation=True)` -- sentence-transformers'
        CrossEncoder -- and TEI do."""
        out: list[tuple[list[int], list[int]]] = []
        singles = [i for i, (_, second) in enumerate(pairs) if second is None]
        single_ids = self.encode(
            [pairs[i][0] for i in singles], truncate=truncate, direction=direction, param=param
        )
        by_index = {i: (ids, [0] * len(ids)) for i, ids in zip(singles, single_ids, strict=True)}
        for i, (first, second) in enumerate(pairs):
            if second is None:
                out.append(by_index[i])
                continue
            encoding = self._encode_pair(first, second, truncate, direction, param)
            if len(encoding) > self.max_seq_len:
                raise too_long(self.max_seq_len, len(encoding), param)
            out.append((list(encoding.ids), list(encoding.type_ids)))
        return out

    def _encode_pair(
        self, first: str, second: str, truncate: bool, direction: Direction, param: str
    ) -> Encoding:
        """One pair, a long side encoded from its window. Exact when one side is long: the other
        is then shorter than `content_budget + 1` tokens, so which side is longer -- all that
        longest_first reads of the long side's length beyond the budget -- is known. Two long
        sides are encoded whole (their order in length needs every token)."""
        tokenizer = self._finishers[direction] if truncate else self._plain
        window = self.content_budget * (
            WINDOW_CHARS_PER_TOKEN if truncate else REFUSAL_CHARS_PER_TOKEN
        )
        long = [len(first) > window, len(second) > window]
        if long.count(True) != 1:
            return tokenizer.encode(first, second)
        sides = [
            self._encode_windowed(text, window, truncate, direction, param)
            if is_long
            else self._plain.encode(text, add_special_tokens=False)
            for text, is_long in zip((first, second), long, strict=True)
        ]
        if len(sides[long.index(False)]) > self.content_budget:
            return tokenizer.encode(first, second)
        return tokenizer.post_process(sides[0], sides[1])

    def encode_spans(
        self,
        texts: Sequence[str],
        *,
        truncate: bool,
        direction: Direction = "right",
        param: str = "inputs",
    ) -> list[TokenSpans]:
        """Tokens with character offsets, special-token flags and word ids (NER)."""
        tokenizer = self._finishers[direction] if truncate else self._plain
        out: list[TokenSpans] = []
        for text in texts:
            encoding = tokenizer.encode(text)
            if len(encoding) > self.max_seq_len:
                raise too_long(self.max_seq_len, len(encoding), param)
            out.append(
                TokenSpans(
                    ids=list(encoding.ids),
                    tokens=list(encoding.tokens),
                    offsets=[(int(a), int(b)) for a, b in encoding.offsets],
                    special=[bool(flag) for flag in encoding.special_tokens_mask],
                    word_ids=list(encoding.word_ids),
                )
            )
        return out

    def tokenize(self, texts: Sequence[str], *, add_special_tokens: bool) -> list[list[TokenRow]]:
        """TEI's /tokenize: (id, text, special, start, stop) per token; a special token's text is
        its token string and it has no span. No truncation: this shows the whole input."""
        encodings = self._plain.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        out = []
        for text, encoding in zip(texts, encodings, strict=True):
            rows: list[TokenRow] = []
            for token_id, token, special, (start, stop) in zip(
                encoding.ids,
                encoding.tokens,
                encoding.special_tokens_mask,
                encoding.offsets,
                strict=True,
            ):
                if special:
                    rows.append((int(token_id), str(token), True, None, None))
                else:
                    rows.append((int(token_id), text[start:stop], False, int(start), int(stop)))
            out.append(rows)
        return out

    def decode(self, sequences: Sequence[Sequence[int]], *, skip_special_tokens: bool) -> list[str]:
        return list(
            self._plain.decode_batch(
                [list(ids) for ids in sequences], skip_special_tokens=skip_special_tokens
            )
        )

    def join_tokens(self, tokens: Sequence[str]) -> str:
        """Token strings back to text with the tokenizer's decoder (transformers'
        `convert_tokens_to_string`): "john", "##son" -> "johnson"."""
        decoder = self._plain.decoder
        return decoder.decode(list(tokens)) if decoder is not None else " ".join(tokens)
