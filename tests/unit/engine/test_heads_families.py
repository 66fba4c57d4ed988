"""Rerank/classify heads on families other than BERT: RoBERTa / XLM-R / ModernBERT
cross-encoders (bge-reranker-style) and causal sequence classifiers (Qwen3 / Llama, as
mxbai-rerank-v2 "-seq" and reward models ship them), vs transformers run one text at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bei_cli.engine.torch_engine import load_torch_engine
from bei_cli.inspect import inspect_checkpoint
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.models import copy_tokenizer

QUERY = "What is the capital of France?"
DOCUMENTS = [
    "Paris is the capital and largest city of France.",
    "a",
    "Berlin is the capital of Germany, and it is much further east than Paris is.",
    "Ünïcödé façade — 日本語 and emoji 🚀",
]
SIZE = {
    "vocab_size": 30522,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "pad_token_id": 0,  # the MiniLM tokenizer's [PAD]
}
# model_type -> (config class, extra config, architecture, base_model)
FAMILIES: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "roberta": (
        "RobertaConfig",
        {"max_position_embeddings": 514},
        "RobertaForSequenceClassification",
        "encoder_bert",
    ),
    "xlm-roberta": (
        "XLMRobertaConfig",
        {"max_position_embeddings": 514},
        "XLMRobertaForSequenceClassification",
        "encoder_bert",
    ),
    "modernbert": (
        "ModernBertConfig",
        {"global_attn_every_n_layers": 2, "local_attention": 16, "max_position_embeddings": 512},
        "ModernBertForSequenceClassification",
        "encoder_bert",
    ),
    "qwen3": (
        "Qwen3Config",
        {"num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 512},
        "Qwen3ForSequenceClassification",
        "encoder",
    ),
    "llama": (
        "LlamaConfig",
        {"num_key_value_heads": 1, "max_position_embeddings": 512},
        "LlamaForSequenceClassification",
        "encoder",
    ),
}


def make_classifier(
    target: Path, model_type: str, num_labels: int, *, pad_token_id: int | None = 0
) -> Path:
    import transformers

    config_class, extra, architecture, _ = FAMILIES[model_type]
    labels = {i: f"label_{i}" for i in range(num_labels)}
    config = getattr(transformers, config_class)(
        **{**SIZE, "pad_token_id": pad_token_id},
        **extra,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    torch.manual_seed(0)
    model = getattr(transformers, architecture)(config).eval()
    with torch.no_grad():  # a wider head than the 0.02 init, so scores are not near ties
        for name, param in model.named_parameters():
            if name.startswith(("score", "classifier")) and param.dim() == 2:
                param.copy_(torch.randn(param.shape) * 0.5)
    model.save_pretrained(target)
    copy_tokenizer(target)
    return target


def reference(model_dir: Path, pairs: list[tuple[str, str | None]]) -> np.ndarray:
    """transformers' own logits, one unpadded text at a time (as its pipelines run)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = []
    with torch.inference_mode():
        for first, second in pairs:
            encoded = tokenizer(first, second, return_tensors="pt")
            rows.append(model(**encoded).logits[0].numpy())
    return np.stack(rows)


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
@pytest.mark.parametrize("num_labels", [1, 3])
def test_sequence_heads_match_transformers(
    tmp_path: Path, model_type: str, num_labels: int
) -> None:
    model_dir = make_classifier(tmp_path / model_type, model_type, num_labels)
    assert_matches_transformers(model_dir, model_type, num_labels)


@pytest.mark.parametrize("model_type", ["llama", "qwen3"])
def test_causal_classifier_without_pad_token_batches(tmp_path: Path, model_type: str) -> None:
    model_dir = make_classifier(tmp_path / model_type, model_type, 1, pad_token_id=None)
    assert_matches_transformers(model_dir, model_type, 1)


def assert_matches_transformers(model_dir: Path, model_type: str, num_labels: int) -> None:
    profile = inspect_checkpoint(model_dir, base_model=FAMILIES[model_type][3])
    assert profile.task == ("rerank" if num_labels == 1 else "classify")
    engine = load_torch_engine(model_dir, profile)
    assert len(set(map(len, DOCUMENTS))) > 1  # the batch needs padding
    tokenizer = TextTokenizer.from_dir(model_dir, profile.max_seq_len)
    pairs: list[tuple[str, str | None]] = (
        [(QUERY, doc) for doc in DOCUMENTS] if num_labels == 1 else [(d, None) for d in DOCUMENTS]
    )
    encoded = tokenizer.encode_pairs(pairs, truncate=True, direction="right", param="inputs")
    from bei_cli.engine.base import Batch

    batch = Batch.from_sequences([ids for ids, _ in encoded], [types for _, types in encoded])
    got = engine.run(batch).scores
    assert got is not None
    np.testing.assert_allclose(got, reference(model_dir, pairs), atol=1e-4)
