"""NER aggregation, pure: per-token scores -> entities, exactly as transformers'
`TokenClassificationPipeline` (`gather_pre_entities`, `aggregate`, `aggregate_words`,
`group_entities`) does it for one untruncated-by-stride text.

Strategies:
- none: one entity per non-special token;
- simple: adjacent tokens with the same tag (B- starts a new group) form one entity;
- first / average / max: first make every word agree on one label (its first token's / the mean
  of its tokens' scores / its highest-scoring token's), then group words as in simple.
Entities labelled with an ignored label ("O") are dropped in every strategy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bei_cli.engine.base import FloatArray
from bei_cli.server.tokenizer import TokenSpans

Strategy = Literal["none", "simple", "first", "average", "max"]
STRATEGIES: tuple[Strategy, ...] = ("none", "simple", "first", "average", "max")
IGNORED_LABELS = ("O",)

# Token strings -> text, as the tokenizer's decoder joins them ("john", "##son" -> "johnson").
JoinTokens = Callable[[Sequence[str]], str]


@dataclass(frozen=True)
class TokenScores:
    """One non-special token with its scores (the pipeline's "pre-entity")."""

    word: str  # the token string; the text itself for unknown tokens
    token_id: int
    start: int
    end: int
    is_subword: bool  # continues the previous token's word
    scores: FloatArray  # (num_labels,)


@dataclass(frozen=True)
class Entity:
    label: str  # the token's label ("B-PER") for "none"; the group's tag ("PER") otherwise
    score: float
    word: str
    start: int
    end: int
    token_id: int = 0  # the token's id for "none"; 0 for groups (BEI's answer)
    scores: FloatArray | None = None  # "none": the token's whole score row


def token_scores(
    text: str,
    spans: TokenSpans,
    scores: FloatArray,
    *,
    subword_prefix: str | None,
    unk_id: int | None,
) -> list[TokenScores]:
    """Pair each non-special token with its scores and decide whether it is a sub-word:
    with a word-aware tokenizer (one with a continuing-subword prefix) a token whose string
    differs in length from its text span is one; otherwise, the pipeline's fallback heuristic
    (no space right before or at its start)."""
    out: list[TokenScores] = []
    for index, token_id in enumerate(spans.ids):
        if spans.special[index]:
            continue
        word = spans.tokens[index]
        start, end = spans.offsets[index]
        word_ref = text[start:end]
        if subword_prefix:
            is_subword = len(word) != len(word_ref)
        else:
            is_subword = start > 0 and " " not in text[start - 1 : start + 1]
        if token_id == unk_id:
            word, is_subword = word_ref, False
        out.append(TokenScores(word, token_id, start, end, is_subword, scores[index]))
    return out


def aggregate(
    tokens: Sequence[TokenScores],
    labels: Sequence[str],
    strategy: Strategy,
    join_tokens: JoinTokens,
    ignored: Sequence[str] = IGNORED_LABELS,
) -> list[Entity]:
    if strategy in ("none", "simple"):
        entities = [_token_entity(token, labels) for token in tokens]
    else:
        entities = _aggregate_words(tokens, labels, strategy, join_tokens)
    if strategy != "none":
        entities = _group_entities(entities, join_tokens)
    return [entity for entity in entities if entity.label not in ignored]


def _token_entity(token: TokenScores, labels: Sequence[str]) -> Entity:
    best = int(token.scores.argmax())
    return Entity(
        label=labels[best],
        score=float(token.scores[best]),
        word=token.word,
        start=token.start,
        end=token.end,
        token_id=token.token_id,
        scores=token.scores,
    )


def _aggregate_word(
    word: Sequence[TokenScores], labels: Sequence[str], strategy: Strategy, join: JoinTokens
) -> Entity:
    if strategy == "first":
        scores = word[0].scores
    elif strategy == "max":
        scores = max(word, key=lambda token: token.scores.max()).scores
    else:  # average
        scores = np.nanmean(np.stack([token.scores for token in word]), axis=0)
    best = int(scores.argmax())
    return Entity(
        label=labels[best],
        score=float(scores[best]),
        word=join([token.word for token in word]),
        start=word[0].start,
        end=word[-1].end,
    )


def _aggregate_words(
    tokens: Sequence[TokenScores], labels: Sequence[str], strategy: Strategy, join: JoinTokens
) -> list[Entity]:
    """Force every word's tokens to one label: split at each token that is not a sub-word."""
    words: list[list[TokenScores]] = []
    for token in tokens:
        if words and token.is_subword:
            words[-1].append(token)
        else:
            words.append([token])
    return [_aggregate_word(word, labels, strategy, join) for word in words]


def _tag(label: str) -> tuple[str, str]:
    """("B" | "I", tag); a label without a B-/I- prefix counts as a continuation."""
    if label.startswith(("B-", "I-")):
        return label[0], label[2:]
    return "I", label


def _group(entities: Sequence[Entity], join: JoinTokens) -> Entity:
    return Entity(
        label=entities[0].label.split("-", 1)[-1],
        score=float(np.nanmean([entity.score for entity in entities])),
        word=join([entity.word for entity in entities]),
        start=entities[0].start,
        end=entities[-1].end,
    )


def _group_entities(entities: Sequence[Entity], join: JoinTokens) -> list[Entity]:
    """Merge adjacent entities of the same tag unless the next one begins (B-) a new entity."""
    groups: list[list[Entity]] = []
    for entity in entities:
        bi, tag = _tag(entity.label)
        if groups and bi != "B" and tag == _tag(groups[-1][-1].label)[1]:
            groups[-1].append(entity)
        else:
            groups.append([entity])
    return [_group(group, join) for group in groups]
