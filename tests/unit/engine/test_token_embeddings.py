"""Per-token embeddings (`Batch.per_token`, what /embed_all serves) against the references:
sentence-transformers' `encode(output_value="token_embeddings")` for the real MiniLM and a tiny
checkpoint with a Dense layer (token states are the transformer's, before pooling and Dense), and
transformers' `last_hidden_state` of one unpadded text at a time for a left-padded causal
embedder (sentence-transformers trims token embeddings for right padding only).

Tolerance: fp32 on both sides, one batch padded to its longest text vs the reference's own
padding -- only the order of additions differs: |diff| <= 2e-5 per value (measured on MiniLM:
1.7e-6, with hidden states up to |x| = 6.2) and cosine >= 0.99999 per token.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from bei_cli.engine.base import Batch
from bei_cli.engine.bucketing import ShapePolicy
from bei_cli.engine.cuda_graphs import EagerGraphShapes, MaskedForward
from bei_cli.engine.torch_engine import TorchEngine, load_torch_engine
from bei_cli.errors import EngineError
from bei_cli.inspect import inspect_checkpoint
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.causal import make_tiny_causal_embedder
from tests.fixtures.heads import BIO_LABELS, TOKENS, make_tiny_head_model
from tests.fixtures.models import minilm_dir
from tests.unit.engine.helpers import MINILM_PROFILE, PARITY_TEXTS, TinyFactory, cosines

ATOL = 2e-5
COSINE = 0.99999
TEXTS = [*PARITY_TEXTS[:8], "A long paragraph about embeddings and retrieval. " * 30]


def per_token_rows(engine: TorchEngine, ids: list[list[int]]) -> list[np.ndarray]:
    output = engine.run(Batch.from_sequences(ids, per_token=[True] * len(ids)))
    assert output.token_embeddings is not None and output.embeddings is not None
    assert len(output.embeddings) == len(ids)  # the pooled rows are still there
    rows = list(output.token_embeddings)
    assert all(row is not None for row in rows)
    return rows  # type: ignore[return-value]


def assert_matches(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=0)
        assert cosines(g, w).min() >= COSINE


def st_token_embeddings(model_dir: Path, texts: list[str], **kwargs: object) -> list[np.ndarray]:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    rows = model.encode(texts, output_value="token_embeddings", batch_size=4, **kwargs)
    return [row.float().numpy() for row in rows]


@pytest.mark.integration
def test_minilm_matches_sentence_transformers() -> None:
    model_dir = minilm_dir()
    tokenizer = TextTokenizer.from_dir(model_dir, MINILM_PROFILE.max_seq_len)
    engine = load_torch_engine(model_dir, MINILM_PROFILE)
    got = per_token_rows(engine, tokenizer.encode(TEXTS, truncate=True))
    assert len(got[-1]) == MINILM_PROFILE.max_seq_len  # the long text, truncated as ST does
    assert_matches(got, st_token_embeddings(model_dir, TEXTS))


def test_tiny_with_dense_returns_hidden_states_not_projections(
    tiny_checkpoint: TinyFactory,
) -> None:
    model_dir, profile = tiny_checkpoint("mean", dense_out=16)
    tokenizer = TextTokenizer.from_dir(model_dir, profile.max_seq_len)
    engine = load_torch_engine(model_dir, profile)
    got = per_token_rows(engine, tokenizer.encode(TEXTS, truncate=True))
    assert got[0].shape[1] == profile.hidden_size != profile.embedding_dim
    assert_matches(got, st_token_embeddings(model_dir, TEXTS))


def test_left_padded_causal_embedder_matches_unpadded_transformers(tmp_path: Path) -> None:
    from transformers import AutoModel

    model_dir = make_tiny_causal_embedder(tmp_path / "qwen3", "qwen3")
    profile = inspect_checkpoint(model_dir, base_model="encoder")
    assert profile.padding_side == "left"
    tokenizer = TextTokenizer.from_dir(model_dir, profile.max_seq_len)
    ids = tokenizer.encode(TEXTS, truncate=True, prompt=profile.prompt("query"))
    got = per_token_rows(load_torch_engine(model_dir, profile), ids)
    model = AutoModel.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        want = [model(input_ids=torch.tensor([row])).last_hidden_state[0].numpy() for row in ids]
    assert_matches(got, want)


def test_mixed_batch_only_flagged_rows_get_states_pooled_rows_unchanged(
    tiny_checkpoint: TinyFactory,
) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    ids = TextTokenizer.from_dir(model_dir, profile.max_seq_len).encode(TEXTS[:3], truncate=True)
    engine = load_torch_engine(model_dir, profile)
    plain = engine.run(Batch.from_sequences(ids))
    mixed = engine.run(Batch.from_sequences(ids, per_token=[False, True, False]))
    assert plain.token_embeddings is None
    assert mixed.token_embeddings is not None
    assert [r is None for r in mixed.token_embeddings] == [True, False, True]
    assert mixed.token_embeddings[1] is not None and len(mixed.token_embeddings[1]) == len(ids[1])
    assert plain.embeddings is not None and mixed.embeddings is not None
    np.testing.assert_allclose(mixed.embeddings, plain.embeddings, atol=1e-6)


def test_bucketed_shapes_drop_filler_rows_and_padding(tiny_checkpoint: TinyFactory) -> None:
    """The CUDA path's bucketed, graph-ready forward (run eagerly here) pads rows and width;
    token states must equal the plain path's."""
    model_dir, profile = tiny_checkpoint("mean")
    ids = TextTokenizer.from_dir(model_dir, profile.max_seq_len).encode(TEXTS[:3], truncate=True)
    plain = load_torch_engine(model_dir, profile, max_batch_size=16)
    forward = MaskedForward(plain.model, False, torch.float32, plain.forward_options)
    policy = ShapePolicy.cuda(plain.info.max_batch_size, plain.info.max_seq_len)
    shaped = dataclasses.replace(plain, shapes=policy, graphs=EagerGraphShapes(forward))
    assert_matches(per_token_rows(shaped, ids), per_token_rows(plain, ids))


def test_engines_say_who_has_token_states(tmp_path: Path, tiny_checkpoint: TinyFactory) -> None:
    model_dir, profile = tiny_checkpoint("mean")
    assert load_torch_engine(model_dir, profile).info.token_embeddings
    ner_dir = make_tiny_head_model(tmp_path / "ner", architecture=TOKENS, labels=BIO_LABELS)
    ner = load_torch_engine(ner_dir, inspect_checkpoint(ner_dir, base_model="encoder"))
    assert not ner.info.token_embeddings
    with pytest.raises(EngineError, match="no per-token embeddings"):
        ner.run(Batch.from_sequences([[101, 102]], per_token=[True]))
