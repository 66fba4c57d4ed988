"""A checkpoint's files: the one table of what a build fetches and an artifact keeps, and reading
its JSON files with errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bei_cli.errors import UnsupportedModelError

MODEL_CONFIG = "config.json"
FAST_TOKENIZER = "tokenizer.json"
# config.json and sentence-transformers' own files at the checkpoint root.
CONFIG_FILES: tuple[str, ...] = (
    MODEL_CONFIG,
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
)
# The fast tokenizer and every file a tokenizer config may refer to (the slow tokenizers'
# vocabularies and sentencepiece models, from which a missing tokenizer.json is converted).
TOKENIZER_FILES: tuple[str, ...] = (
    FAST_TOKENIZER,
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
# Each sentence-transformers module directory's config (1_Pooling/config.json, 2_Dense/...), as a
# hub pattern (fnmatch, `*` also matches `/`).
MODULE_CONFIGS = "[0-9]*_*/config.json"


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnsupportedModelError(
            f"cannot read {path}: {exc}",
            hint="The file must be valid JSON as written by transformers / sentence-transformers.",
        ) from exc


def read_json_object(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise UnsupportedModelError(f"{path} must hold a JSON object, not {type(data).__name__}.")
    return data


def read_optional_object(path: Path) -> dict[str, Any]:
    """The file's object, or {} when the file does not exist."""
    return read_json_object(path) if path.is_file() else {}
