"""Engine test helpers: hand-built profiles, parity texts, tokenization, cosines.

Profiles are written by hand (not by bei's inspector) so these tests pin the engine alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from bei_cli.engine.base import Batch
from bei_cli.inspect.profile import DenseLayer, ModelProfile, PoolingMode
from tests.fixtures.models import MINILM_PROFILE

__all__ = ["MINILM_PROFILE"]  # re-exported: the engine tests import it from here

TINY_HIDDEN = 32
TINY_MAX_SEQ_LEN = 128
TANH = "torch.nn.modules.activation.Tanh"

# The tiny_checkpoint fixture: (pooling, **make_tiny_sentence_transformer options) -> (dir, profile)
TinyFactory = Callable[..., tuple[Path, ModelProfile]]


# Varied inputs: short and long, unicode, code, odd whitespace, one far past 128 tokens.
PARITY_TEXTS = [
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "a",
    "   leading and trailing spaces   ",
    "tabs\tand\nnewlines\n\nhere",
    "Ünïcödé façade naïve café — “quotes” and ‘apostrophes’",
    "日本語のテキストも埋め込みます。",
    "Привет, как дела?",
    "emoji 🚀🔥 and symbols ∑∫√ ≤ ≥",
    "def add(a, b):\n    return a + b  # python code",
    "SELECT id, name FROM users WHERE age > 30 ORDER BY name;",
    '{"json": [1, 2, 3], "nested": {"key": null}}',
    "https://example.com/path?query=1&other=two#fragment",
    "Numbers 3.14159 2.71828 1e-9 and -42",
    "repeated " * 40,
    "UPPER CASE TEXT SHOULD LOWERCASE IN AN UNCASED MODEL",
    "mixed 中文 English العربية text",
    "A long paragraph about embeddings. " * 30,
    "!!!???...,,,;;;",
    "short",
]


def tiny_profile(
    pooling: PoolingMode = "mean",
    *,
    dense_out: int | None = None,
    normalize: bool = True,
    prompts: dict[str, str] | None = None,
    default_prompt_name: str | None = None,
) -> ModelProfile:
    """The profile bei should derive from make_tiny_sentence_transformer(...) with these args."""
    dense = ()
    if dense_out is not None:
        dense = (DenseLayer("2_Dense", TINY_HIDDEN, dense_out, True, TANH),)
    return ModelProfile(
        architecture="BertModel",
        model_type="bert",
        task="embed",
        attention="bidirectional",
        hidden_size=TINY_HIDDEN,
        max_seq_len=TINY_MAX_SEQ_LEN,
        embedding_dim=dense_out or TINY_HIDDEN,
        pooling=pooling,
        normalize=normalize,
        dense=dense,
        prompts=tuple(sorted((prompts or {}).items())),
        default_prompt_name=default_prompt_name,
    )


def tokenize(model_dir: Path, texts: list[str], max_seq_len: int) -> Batch:
    """Token ids the way sentence-transformers makes them: fast tokenizer, truncated."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    encoded = tokenizer(texts, truncation=True, max_length=max_seq_len)
    return Batch.from_sequences(encoded["input_ids"], encoded["token_type_ids"])


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(unit_rows(a.astype(np.float64)) * unit_rows(b.astype(np.float64)), axis=1)
