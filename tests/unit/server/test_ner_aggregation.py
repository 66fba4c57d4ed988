"""NER aggregation parity: the same logits through transformers' token-classification pipeline
and through `ner.aggregation` give identical entities, words and spans, and scores within 1e-4,
for every aggregation strategy. The model is a tiny BertForTokenClassification (MiniLM's
uncased WordPiece tokenizer) with a widened head so B-/I- labels win on many tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bei_cli.engine.postprocess import softmax
from bei_cli.server.ner.aggregation import (
    STRATEGIES,
    Entity,
    Strategy,
    TokenScores,
    aggregate,
    token_scores,
)
from bei_cli.server.tokenizer import TextTokenizer

LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
TEXTS = [
    "John Smith works at Microsoft in Seattle.",
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday.",
    "The unbelievably overcomplicated antidisestablishmentarianism debate.",
    "Zürich, São Paulo and Kraków are cities; naïve café owners agree!",
    "U.K. startup buys Apple-branded gadgets for $1 billion (approx.).",
    "New York-based JPMorgan Chase & Co. hired Dr. Jane O'Neil.",
    "email me at jane.doe@example.com or call +1-555-0100",
    "    leading and trailing spaces   ",
    "東京 is Tokyo and 北京 is Beijing",
    "a",
    "Mr. and Mrs. Dursley, of number four, Privet Drive, were proud to say.",
    "GPT-4o, BERT-base-uncased & RoBERTa are models by OpenAI, Google and Meta.",
    "hyphenated-words and under_scores and CamelCaseWords",
    "Emoji 🙂 between words 🎉 here",
    "Barack Obama was born in Honolulu, Hawaii, and studied at Columbia University.",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import BertConfig, BertForTokenClassification

    from tests.fixtures.models import copy_tokenizer

    torch.manual_seed(3)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    model = BertForTokenClassification(config).eval()
    with torch.no_grad():  # wide head: confident, varied labels instead of near-ties
        model.classifier.weight.mul_(60.0)
        model.classifier.bias.copy_(torch.tensor([0.5, 0.0, 0.2, 0.0, 0.2, 0.0, 0.2]))
    target = tmp_path_factory.mktemp("tiny-ner")
    model.save_pretrained(target)
    copy_tokenizer(target)
    return target


@pytest.fixture(scope="module")
def ours(model_dir: Path) -> TextTokenizer:
    return TextTokenizer.from_dir(model_dir, 512)


@pytest.fixture(scope="module")
def pipelines(model_dir: Path) -> dict[str, Any]:
    from transformers import pipeline

    return {
        strategy: pipeline(
            "token-classification",
            model=str(model_dir),
            aggregation_strategy=strategy,
            device="cpu",
        )
        for strategy in STRATEGIES
    }


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Any:
    from transformers import BertForTokenClassification

    return BertForTokenClassification.from_pretrained(model_dir).eval()


def our_entities(
    model: Any, tokenizer: TextTokenizer, text: str, strategy: Strategy
) -> list[Entity]:
    """Run the model ourselves on our tokenization, then aggregate."""
    import torch

    (spans,) = tokenizer.encode_spans([text], truncate=True)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([spans.ids])).logits[0].numpy()
    tokens: list[TokenScores] = token_scores(
        text,
        spans,
        softmax(logits),
        subword_prefix=tokenizer.subword_prefix,
        unk_id=tokenizer.unk_id,
    )
    return aggregate(tokens, LABELS, strategy, tokenizer.join_tokens)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_entities_match_the_transformers_pipeline(
    model: Any, ours: TextTokenizer, pipelines: dict[str, Any], strategy: Strategy
) -> None:
    found = 0
    for text in TEXTS:
        theirs = pipelines[strategy](text)
        mine = our_entities(model, ours, text, strategy)
        key = "entity" if strategy == "none" else "entity_group"
        assert [(e[key], e["word"], e["start"], e["end"]) for e in theirs] == [
            (e.label, e.word, e.start, e.end) for e in mine
        ], text
        np.testing.assert_allclose(
            [e.score for e in mine], [float(e["score"]) for e in theirs], atol=1e-4
        )
        found += len(mine)
    assert found >= len(TEXTS)  # the head is wide enough that entities appear


def scored(
    word: str, span: tuple[int, int], row: list[float], subword: bool = False
) -> TokenScores:
    return TokenScores(word, 7, span[0], span[1], subword, np.array(row, np.float32))


def join(tokens: Any) -> str:
    return " ".join(tokens).replace(" ##", "")


# labels: O, B-PER, I-PER
PER_LABELS = ("O", "B-PER", "I-PER")


def test_b_starts_a_new_group_and_o_is_dropped() -> None:
    tokens = [
        scored("ann", (0, 3), [0.1, 0.8, 0.1]),
        scored("bob", (4, 7), [0.1, 0.7, 0.2]),
        scored("lee", (8, 11), [0.1, 0.1, 0.8]),
        scored("and", (12, 15), [0.9, 0.05, 0.05]),
    ]
    groups = aggregate(tokens, PER_LABELS, "simple", join)
    assert [(g.label, g.word, g.start, g.end, g.token_id) for g in groups] == [
        ("PER", "ann", 0, 3, 0),
        ("PER", "bob lee", 4, 11, 0),
    ]
    assert groups[1].score == pytest.approx(0.75)
    per_token = aggregate(tokens, PER_LABELS, "none", join)
    assert [e.label for e in per_token] == ["B-PER", "B-PER", "I-PER"]
    assert per_token[0].token_id == 7 and per_token[0].scores is not None


@pytest.mark.parametrize(
    ("strategy", "label", "score"),
    [("first", "O", 0.6), ("max", "B-PER", 0.9), ("average", "B-PER", 0.55)],
)
def test_word_strategies_make_subwords_agree(strategy: Strategy, label: str, score: float) -> None:
    tokens = [
        scored("jo", (0, 2), [0.6, 0.2, 0.2]),
        scored("##hn", (2, 4), [0.05, 0.9, 0.05], subword=True),
    ]
    words = aggregate(tokens, PER_LABELS, strategy, join, ignored=())
    assert [(w.label.split("-")[-1], w.word, w.start, w.end) for w in words] == [
        (label.split("-")[-1], "john", 0, 4)
    ]
    assert words[0].score == pytest.approx(score, abs=1e-6)
