from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.models import make_tiny_sentence_transformer
from tests.unit.inspect.checkpoint_files import POOLING_MODES


@pytest.fixture(scope="session")
def tiny_st(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny checkpoints written by sentence-transformers 6 itself, one per pooling mode."""
    root = tmp_path_factory.mktemp("tiny-st")
    return {
        mode: make_tiny_sentence_transformer(root / mode, pooling=mode, normalize=mode == "mean")
        for mode in POOLING_MODES
    }


@pytest.fixture(scope="session")
def tiny_st_dense_prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_sentence_transformer(
        tmp_path_factory.mktemp("tiny-st") / "dense",
        pooling="cls",
        dense_out=16,
        prompts={"query": "query: ", "passage": "passage: "},
        default_prompt_name="query",
        max_seq_length=64,
    )
