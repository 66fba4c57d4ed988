"""Session fixtures of the engine tests: tiny sentence-transformers checkpoints, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bei_cli.inspect.profile import ModelProfile, PoolingMode
from tests.fixtures.models import make_tiny_sentence_transformer
from tests.unit.engine.helpers import TinyFactory, tiny_profile


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> TinyFactory:
    """tiny_checkpoint(pooling, dense_out=..., normalize=...) -> (dir, profile), built once each."""
    cache: dict[tuple[str, str], tuple[Path, ModelProfile]] = {}

    def make(pooling: PoolingMode = "mean", **options: object) -> tuple[Path, ModelProfile]:
        key = (pooling, repr(sorted(options.items())))
        if key not in cache:
            target = tmp_path_factory.mktemp("tiny") / f"st-{pooling}"
            make_tiny_sentence_transformer(target, pooling=pooling, **options)
            cache[key] = (target, tiny_profile(pooling, **options))
        return cache[key]

    return make
