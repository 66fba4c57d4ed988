"""The real all-MiniLM-L6-v2 through TorchEngine vs sentence-transformers (DESIGN.md tolerances)."""

from __future__ import annotations

import numpy as np
import pytest

from bei_cli.engine.torch_engine import load_torch_engine
from tests.fixtures.models import minilm_dir
from tests.unit.engine.helpers import MINILM_PROFILE, PARITY_TEXTS, cosines, tokenize

pytestmark = pytest.mark.integration

MINILM_TEXTS = [
    *PARITY_TEXTS,
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "Embeddings map text to vectors so similar meanings are close together.",
    "¿Dónde está la biblioteca?",
    "Ich habe keine Ahnung, was das bedeutet.",
    "\u00a0non-breaking\u00a0spaces\u2003and em\u2003spaces",
    "zero\u200bwidth\u200bjoiners",
    "combining accents: e\u0301 a\u0308 n\u0303",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "<html><body><p class='x'>markup</p></body></html>",
    "$ pip install bei-cli && bei serve build/minilm --port 7997",
    "2024-05-17T12:34:56Z ERROR worker[42]: connection reset by peer",
    "lorem ipsum dolor sit amet, consectetur adipiscing elit",
    "I love this product!",
    "I hate this product!",
    "The cat sat on the mat.",
    "A feline rested on the rug.",
    "Stock markets fell sharply on Tuesday amid inflation fears.",
    "Quantum entanglement links the states of two particles.",
    "x" * 300,
    " ".join(f"token{i}" for i in range(400)),
    "\n\n\n",
    "🙂",
    "한국어 문장입니다.",
    "Ελληνικά γράμματα",
    "math: e^{i\\pi} + 1 = 0",
    "CamelCaseIdentifiersAndsnake_case_names",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "The end.",
    "Final text number fifty in the parity set.",
]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_dir()), device="cpu")
    assert model.max_seq_length == MINILM_PROFILE.max_seq_len
    return model.encode(MINILM_TEXTS, convert_to_numpy=True)


@pytest.mark.parametrize(("dtype", "floor"), [("float32", 0.99999), ("bfloat16", 0.999)])
def test_minilm_parity(reference: np.ndarray, dtype: str, floor: float) -> None:
    assert len(MINILM_TEXTS) == 50
    batch = tokenize(minilm_dir(), MINILM_TEXTS, MINILM_PROFILE.max_seq_len)
    assert batch.lengths.max() == MINILM_PROFILE.max_seq_len  # the long texts were truncated
    engine = load_torch_engine(minilm_dir(), MINILM_PROFILE, dtype=dtype)
    output = engine.run(batch).embeddings
    assert output is not None
    assert cosines(output, reference).min() >= floor
