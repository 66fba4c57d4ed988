"""EmbeddingGemma, gte-Qwen2 and voyage-4-nano in their hub layouts (tests/fixtures/
decoder_layouts.py), read by bei's inspector and served by the torch engine, against
SentenceTransformer(dir).encode with the same prompt. Each is built as its Truss config builds it
(base_model encoder_bert) and as BEI (encoder), where config.json's own bidirectional flag must
still give full attention."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bei_cli.engine import attention
from bei_cli.engine.base import Batch
from bei_cli.engine.torch_engine import load_torch_engine
from bei_cli.inspect import inspect_checkpoint
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.decoder_layouts import GEMMA_WINDOW, LAYOUTS, MAKERS
from tests.unit.engine.helpers import cosines, unit_rows
from tests.unit.engine.test_causal import TEXTS, bei_embed, st_embed

PARITY = 0.99999

# layout -> (architecture, pooling, Dense out_features, what bei says about auto_map)
EXPECTED = {
    "embeddinggemma": ("Gemma3TextModel", "mean", (128, 32), ()),
    "gte-qwen2": (
        "Qwen2ForCausalLM",
        "lasttoken",
        (),
        ("config.json auto_map ignored: bei runs transformers' own Qwen2ForCausalLM",),
    ),
    "voyage-4-nano": ("Qwen3Model", "mean", (64,), ()),
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("decoder-layouts")
    return {name: MAKERS[name](root / name) for name in LAYOUTS}


@pytest.mark.parametrize("base_model", ["encoder_bert", "encoder"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_profile_reads_the_hub_layout(
    checkpoints: dict[str, Path], layout: str, base_model: str
) -> None:
    profile = inspect_checkpoint(checkpoints[layout], base_model=base_model)
    architecture, pooling, dense, fallbacks = EXPECTED[layout]
    assert profile.architecture == architecture
    assert profile.task == "embed"
    # config.json's own flag (use_bidirectional_attention / is_causal: false) holds under BEI too.
    assert profile.attention == "bidirectional"
    assert profile.pooling == pooling
    assert tuple(layer.out_features for layer in profile.dense) == dense
    assert profile.normalize
    assert set(fallbacks) <= set(profile.fallbacks)


@pytest.mark.parametrize("prompt_name", ["query", "document"])
@pytest.mark.parametrize("base_model", ["encoder_bert", "encoder"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_served_vectors_match_sentence_transformers(
    checkpoints: dict[str, Path], layout: str, base_model: str, prompt_name: str
) -> None:
    model_dir = checkpoints[layout]
    profile = inspect_checkpoint(model_dir, base_model=base_model)
    got = bei_embed(model_dir, TEXTS, prompt_name=prompt_name, profile=profile)
    expected = st_embed(model_dir, TEXTS, prompt_name=prompt_name)
    assert got.shape == expected.shape
    assert cosines(got, expected).min() >= PARITY


def test_prompts_are_the_checkpoints_own(checkpoints: dict[str, Path]) -> None:
    model_dir = checkpoints["embeddinggemma"]
    profile = inspect_checkpoint(model_dir, base_model="encoder_bert")
    assert profile.prompt("query") == "task: search result | query: "
    with_prompt = bei_embed(model_dir, TEXTS, prompt_name="query", profile=profile)
    assert cosines(with_prompt, st_embed(model_dir, TEXTS)).min() < 0.999


def test_embeddinggemma_keeps_its_own_sliding_window(checkpoints: dict[str, Path]) -> None:
    """Gemma3 with use_bidirectional_attention attends within |i - j| < window on its sliding
    layers; transformers' generic bidirectional window (what `is_causal = False` selects) is
    |i - j| <= window. bei keeps the model's own masks; forcing the generic switch would widen
    every sliding layer by one token, which this test shows moves the vectors."""
    model_dir = checkpoints["embeddinggemma"]
    profile = inspect_checkpoint(model_dir, base_model="encoder_bert")
    ids = TextTokenizer.from_dir(model_dir, profile.max_seq_len).encode(
        TEXTS, truncate=True, prompt=profile.prompt("query")
    )
    assert min(len(row) for row in ids) > GEMMA_WINDOW  # every input reaches past the window
    engine = load_torch_engine(model_dir, profile)
    kept = engine.run(Batch.from_sequences(ids)).embeddings
    expected = st_embed(model_dir, TEXTS, prompt_name="query")
    attention._switch_off_causal(engine.model)
    widened = engine.run(Batch.from_sequences(ids)).embeddings
    assert kept is not None and widened is not None
    assert cosines(unit_rows(kept), expected).min() >= PARITY
    assert cosines(unit_rows(widened), expected).min() < 0.999


def test_bidirectional_really_differs_from_causal(checkpoints: dict[str, Path]) -> None:
    """The is_causal: false layouts are not accidentally causal: a causal run of the same
    weights (transformers' default without the flag) gives other vectors."""
    import json

    model_dir = checkpoints["voyage-4-nano"]
    bidirectional = bei_embed(model_dir, TEXTS, prompt_name="query", base_model="encoder")
    config_path = model_dir / "config.json"
    config = json.loads(config_path.read_text())
    try:
        config_path.write_text(json.dumps({**config, "is_causal": True}))
        causal = bei_embed(model_dir, TEXTS, prompt_name="query", base_model="encoder")
    finally:
        config_path.write_text(json.dumps(config))
    assert np.isfinite(causal).all()
    assert cosines(bidirectional, causal).min() < 0.999
