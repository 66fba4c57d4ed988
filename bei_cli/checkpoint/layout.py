"""Which files of a checkpoint a build needs, and whether a local directory has them.

Shared by every source: the hub adapter downloads only these patterns, and every adapter
validates its result with `validate_checkpoint_dir` before anyone inspects it.
Patterns are the hub's (fnmatch, `*` also matches `/`).
"""

from __future__ import annotations

import json
from fnmatch import fnmatch
from pathlib import Path

from bei_cli.errors import UnsupportedModelError
from bei_cli.inspect.files import (
    CONFIG_FILES,
    FAST_TOKENIZER,
    MODEL_CONFIG,
    MODULE_CONFIGS,
    TOKENIZER_FILES,
)

# What every source fetches besides weights: the same table the artifact copies from.
METADATA_PATTERNS: tuple[str, ...] = (*CONFIG_FILES, *TOKENIZER_FILES, MODULE_CONFIGS)
__all__ = ["FAST_TOKENIZER", "METADATA_PATTERNS", "MODEL_CONFIG"]

# Weights per directory: safetensors when present, pickle only as an opt-in fallback.
SAFETENSORS_NAMES: tuple[str, ...] = (
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
)
PICKLE_NAMES: tuple[str, ...] = (
    "pytorch_model.bin",
    "pytorch_model-*-of-*.bin",
    "pytorch_model.bin.index.json",
)

ROOT = ""  # the transformer's own directory, relative to the checkpoint root


def weight_patterns(names: tuple[str, ...], directories: tuple[str, ...]) -> tuple[str, ...]:
    """`names` inside each directory ("" is the root)."""
    return tuple(f"{d}/{n}" if d else n for d in directories for n in names)


def safetensors_patterns() -> tuple[str, ...]:
    """Safetensors weights of the root and of any sentence-transformers module directory."""
    return (*SAFETENSORS_NAMES, "[0-9]*_*/model.safetensors")


def weight_directories(model_dir: Path) -> tuple[str, ...]:
    """Directories that hold weights: the root and each Dense module from modules.json."""
    modules_file = model_dir / "modules.json"
    if not modules_file.is_file():
        return (ROOT,)
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnsupportedModelError(f"cannot read {modules_file}: {exc}") from exc
    dense = tuple(
        str(m.get("path", ""))
        for m in modules
        if isinstance(m, dict) and str(m.get("type", "")).rsplit(".", 1)[-1] == "Dense"
    )
    return (ROOT, *dense)


def _has_any(directory: Path, names: tuple[str, ...]) -> bool:
    if not directory.is_dir():
        return False
    return any(fnmatch(p.name, n) for p in directory.iterdir() for n in names)


def directories_without_safetensors(model_dir: Path) -> tuple[str, ...]:
    return tuple(
        d for d in weight_directories(model_dir) if not _has_any(model_dir / d, SAFETENSORS_NAMES)
    )


def validate_checkpoint_dir(model_dir: Path, *, allow_pickle: bool = False) -> None:
    """Raise UnsupportedModelError unless `model_dir` has config, fast tokenizer and weights."""
    if not (model_dir / MODEL_CONFIG).is_file():
        raise UnsupportedModelError(
            f"{model_dir} has no {MODEL_CONFIG}; bei needs a transformers checkpoint.",
            hint="Point the checkpoint at a directory/repo saved with `save_pretrained` "
            "(config.json + weights + tokenizer.json).",
        )
    if not (model_dir / FAST_TOKENIZER).is_file():
        raise UnsupportedModelError(
            f"{model_dir} has no {FAST_TOKENIZER}; bei requires a fast (Rust) tokenizer.",
            hint='Create it once: python -c "from transformers import AutoTokenizer as T; '
            f"T.from_pretrained('{model_dir}').save_pretrained('{model_dir}')\" "
            "(needs the slow tokenizer's files, e.g. vocab.txt or sentencepiece.bpe.model).",
        )
    for directory in directories_without_safetensors(model_dir):
        _check_pickle_fallback(model_dir, directory, allow_pickle=allow_pickle)


def _check_pickle_fallback(model_dir: Path, directory: str, *, allow_pickle: bool) -> None:
    where = model_dir / directory
    if not _has_any(where, PICKLE_NAMES):
        raise UnsupportedModelError(
            f"{where} has no weights (model.safetensors or pytorch_model.bin).",
            hint="Save the model with `save_pretrained` / `SentenceTransformer.save` first.",
        )
    if not allow_pickle:
        raise pickle_refused(str(where))


PICKLE_HINT = (
    "Convert them once: load with transformers and `save_pretrained(dir, "
    "safe_serialization=True)`, or use a revision that has model.safetensors (e.g. the "
    "`refs/pr/N` of the hub's safetensors conversion). If you trust the checkpoint, pass "
    "--allow-pickle."
)


def pickle_refused(where: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"{where} has only pickle weights (pytorch_model.bin), no safetensors; bei does not load "
        "pickle by default because unpickling can run arbitrary code.",
        hint=PICKLE_HINT,
    )
