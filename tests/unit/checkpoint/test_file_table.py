"""One table of checkpoint files: every file an artifact copies is one the sources fetch."""

from __future__ import annotations

from fnmatch import fnmatch

import pytest

from bei_cli.checkpoint.layout import METADATA_PATTERNS
from bei_cli.engine import checkpoint_files
from bei_cli.inspect.files import CONFIG_FILES, TOKENIZER_FILES


@pytest.mark.parametrize("name", [*CONFIG_FILES, *TOKENIZER_FILES])
def test_every_copied_file_is_fetched(name: str) -> None:
    assert any(fnmatch(name, pattern) for pattern in METADATA_PATTERNS), name


@pytest.mark.parametrize("name", ["spiece.model", "sentencepiece.bpe.model", "tokenizer.model"])
def test_sentencepiece_models_are_fetched_and_copied(name: str) -> None:
    assert name in METADATA_PATTERNS
    assert name in checkpoint_files.TOKENIZER_FILES


def test_module_configs_are_fetched_but_weights_are_not_metadata() -> None:
    assert any(fnmatch("1_Pooling/config.json", p) for p in METADATA_PATTERNS)
    assert not any(fnmatch("model.safetensors", p) for p in METADATA_PATTERNS)
