"""Causal embedders (Llama, Mistral, Qwen2, Qwen3, Gemma2; *Model and *ForCausalLM), their
bidirectional variants, and BERT-family encoders, end to end through bei's own pieces
(inspect_checkpoint -> TextTokenizer with the checkpoint's prompts -> TorchEngine) against
SentenceTransformer(dir).encode, or, for bidirectional runs, against a direct full-attention
reference (the unmodified model fed an explicit 4D padding-only mask)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bei_cli.engine.attention import force_bidirectional
from bei_cli.engine.base import Batch
from bei_cli.engine.torch_engine import load_torch_engine
from bei_cli.errors import UnsupportedModelError
from bei_cli.inspect import ModelProfile, inspect_checkpoint
from bei_cli.inspect.profile import PaddingSide
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.causal import (
    CAUSAL_FAMILIES,
    ENCODER_FAMILIES,
    EOS_ID,
    QUERY_PROMPT,
    make_tiny_causal_embedder,
    make_tiny_encoder_embedder,
)
from tests.unit.engine.helpers import cosines, unit_rows

PARITY = 0.99999
# Varied lengths so left padding matters; one text is past 64 tokens, one past max_seq_len 128.
TEXTS = [
    "hello world",
    "a",
    "What is the capital of France?",
    "The quick brown fox jumps over the lazy dog.",
    "Ünïcödé façade naïve café — “quotes”",
    "日本語のテキストも埋め込みます。",
    "def add(a, b):\n    return a + b",
    "SELECT id, name FROM users WHERE age > 30;",
    "Numbers 3.14159 2.71828 and -42",
    "tabs\tand\nnewlines",
    "embedding models map text to vectors " * 12,
    "short",
    "A long paragraph about embeddings and retrieval. " * 25,
    "mixed 中文 English العربية text",
    "!!!???",
]
CAUSAL_LM = "qwen3-causal-lm"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("causal")
    dirs = {family: make_tiny_causal_embedder(root / family, family) for family in CAUSAL_FAMILIES}
    dirs[CAUSAL_LM] = make_tiny_causal_embedder(root / CAUSAL_LM, "qwen3", for_causal_lm=True)
    for family in ENCODER_FAMILIES:
        dirs[family] = make_tiny_encoder_embedder(root / family, family)
    return dirs


def bei_embed(
    model_dir: Path,
    texts: list[str],
    *,
    prompt_name: str | None = None,
    base_model: str = "encoder",
    profile: ModelProfile | None = None,
    **engine_options: Any,
) -> np.ndarray:
    """What `bei serve` computes: ids from the server tokenizer, the engine's raw pooled rows,
    normalized as the checkpoint's Normalize module asks."""
    profile = profile or inspect_checkpoint(model_dir, base_model=base_model)
    tokenizer = TextTokenizer.from_dir(model_dir, profile.max_seq_len)
    prompt = profile.prompt(prompt_name) if prompt_name else None
    ids = tokenizer.encode(texts, truncate=True, prompt=prompt)
    output = load_torch_engine(model_dir, profile, **engine_options).run(Batch.from_sequences(ids))
    assert output.embeddings is not None
    assert profile.normalize
    return unit_rows(output.embeddings)


def st_embed(model_dir: Path, texts: list[str], **kwargs: Any) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    return model.encode(texts, convert_to_numpy=True, batch_size=64, **kwargs)


def full_attention_reference(model_dir: Path, texts: list[str], prompt: str) -> np.ndarray:
    """Last-token embeddings of the unmodified model under an explicit (n, 1, T, T) mask that
    hides only padding: transformers uses a 4D mask as given, so nothing is causal."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    encoded = tokenizer(
        [prompt + t for t in texts], padding=True, truncation=True, max_length=128,
        return_tensors="pt", padding_side="right",
    )  # fmt: skip
    mask = encoded["attention_mask"]
    width = mask.shape[1]
    keep = mask[:, None, None, :].expand(-1, 1, width, width).float()
    additive = (1.0 - keep) * torch.finfo(torch.float32).min
    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    with torch.inference_mode():
        states = model(input_ids=encoded["input_ids"], attention_mask=additive).last_hidden_state
    last = mask.sum(dim=1) - 1
    return unit_rows(states[torch.arange(len(texts)), last].numpy())


@pytest.mark.parametrize("family", [*CAUSAL_FAMILIES, CAUSAL_LM])
def test_causal_embedder_matches_sentence_transformers(
    checkpoints: dict[str, Path], family: str
) -> None:
    model_dir = checkpoints[family]
    got = bei_embed(model_dir, TEXTS, prompt_name="query")
    expected = st_embed(model_dir, TEXTS, prompt_name="query")
    assert got.shape == expected.shape == (len(TEXTS), 32)
    assert cosines(got, expected).min() >= PARITY
    # The prompt is really applied: without it the vectors differ.
    plain = st_embed(model_dir, TEXTS)
    assert cosines(got, plain).min() < 0.999


def test_causal_lm_checkpoint_loads_its_base_model(checkpoints: dict[str, Path]) -> None:
    profile = inspect_checkpoint(checkpoints[CAUSAL_LM], base_model="encoder")
    assert (profile.architecture, profile.task) == ("Qwen3ForCausalLM", "embed")
    engine = load_torch_engine(checkpoints[CAUSAL_LM], profile)
    assert type(engine.model).__name__ == "Qwen3Model"


def test_eos_comes_from_the_tokenizer_json_post_processor(checkpoints: dict[str, Path]) -> None:
    """Qwen3-Embedding-style tokenizers append EOS in tokenizer.json's post-processor, which the
    server tokenizer applies like transformers does: same ids, EOS last even when truncated."""
    from sentence_transformers import SentenceTransformer

    model_dir = checkpoints["qwen3"]
    st = SentenceTransformer(str(model_dir), device="cpu")
    prompted = [QUERY_PROMPT + t for t in TEXTS]
    reference = st.tokenizer(prompted, truncation=True, max_length=st.max_seq_length)["input_ids"]
    ours = TextTokenizer.from_dir(model_dir, 128).encode(TEXTS, truncate=True, prompt=QUERY_PROMPT)
    assert ours == reference
    assert all(ids[-1] == EOS_ID for ids in ours)
    assert max(len(ids) for ids in ours) == 128 and min(len(ids) for ids in ours) < 16
    assert st.tokenizer.padding_side == "left"


@pytest.mark.parametrize("side", ["left", "right"])
def test_last_real_token_is_pooled_on_either_padding_side(
    checkpoints: dict[str, Path], side: PaddingSide
) -> None:
    model_dir = checkpoints["llama"]
    profile = inspect_checkpoint(model_dir, base_model="encoder")
    assert profile.padding_side == "left"
    engine = load_torch_engine(model_dir, replace(profile, padding_side=side))
    ids = TextTokenizer.from_dir(model_dir, profile.max_seq_len).encode(TEXTS, truncate=True)
    together = engine.run(Batch.from_sequences(ids)).embeddings
    alone = [engine.run(Batch.from_sequences([one])).embeddings for one in ids]
    assert together is not None and all(row is not None for row in alone)
    assert cosines(together, np.concatenate(alone)).min() >= PARITY  # type: ignore[arg-type]


@pytest.mark.parametrize("family", [*CAUSAL_FAMILIES, CAUSAL_LM])
def test_bidirectional_variant_runs_with_full_attention(
    checkpoints: dict[str, Path], family: str
) -> None:
    model_dir = checkpoints[family]
    profile = inspect_checkpoint(model_dir, base_model="encoder_bert")
    assert profile.attention == "bidirectional"
    got = bei_embed(model_dir, TEXTS, prompt_name="query", profile=profile)
    assert cosines(got, full_attention_reference(model_dir, TEXTS, QUERY_PROMPT)).min() >= PARITY
    causal = st_embed(model_dir, TEXTS, prompt_name="query")
    assert cosines(got, causal).min() < 0.999
    # One text alone has no padding, so transformers skips the mask: still bidirectional.
    single = bei_embed(model_dir, TEXTS[:1], prompt_name="query", profile=profile)
    assert cosines(single, got[:1]).min() >= PARITY


def test_a_model_that_stays_causal_is_refused() -> None:
    """A forward that ignores both switches (a running sum over positions is causal)."""

    class CumulativeModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(16, 4)
            self.is_causal = True

        def forward(self, input_ids: torch.Tensor, **_: Any) -> Any:
            states = self.embed(input_ids).cumsum(dim=1)
            return type("Out", (), {"hidden_states": (states,)})()

    model = CumulativeModel()
    with pytest.raises(UnsupportedModelError, match="CumulativeModel cannot be made"):
        force_bidirectional(model)
    assert model.is_causal is False  # the switch was tried, the probe caught it


@pytest.mark.parametrize("family", ENCODER_FAMILIES)
def test_bert_family_encoder_matches_sentence_transformers(
    checkpoints: dict[str, Path], family: str
) -> None:
    model_dir = checkpoints[family]
    profile = inspect_checkpoint(model_dir, base_model="encoder_bert")
    assert (profile.attention, profile.padding_side, profile.pooling) == (
        "bidirectional",
        "right",
        "mean",
    )
    got = bei_embed(model_dir, TEXTS, profile=profile)
    assert cosines(got, st_embed(model_dir, TEXTS)).min() >= PARITY


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("base_model", ["encoder", "encoder_bert"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cuda_matches_cpu(checkpoints: dict[str, Path], base_model: str, dtype: str) -> None:
    model_dir = checkpoints["qwen3"]
    on_gpu = bei_embed(
        model_dir, TEXTS, prompt_name="query", base_model=base_model, device="cuda", dtype=dtype
    )
    on_cpu = bei_embed(model_dir, TEXTS, prompt_name="query", base_model=base_model)
    assert cosines(on_gpu, on_cpu).min() >= (PARITY if dtype == "float32" else 0.99)
