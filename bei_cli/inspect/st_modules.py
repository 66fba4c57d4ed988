"""sentence-transformers files -> pooling, normalize, Dense layers and prompts.

modules.json lists the pipeline (Transformer -> Pooling -> Dense* -> Normalize?); the Pooling
module's config.json comes in two formats: old boolean keys (`pooling_mode_mean_tokens: true`, ST
<= 5) and ST 6's `pooling_mode: "mean"`. A module bei does not know is an error, never skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast, get_args

from bei_cli.errors import UnsupportedModelError
from bei_cli.inspect.files import read_json, read_json_object, read_optional_object
from bei_cli.inspect.profile import DenseLayer, PoolingMode

POOLING_MODES: tuple[str, ...] = get_args(PoolingMode)

# Old-format Pooling config keys (ST <= 5) -> mode.
LEGACY_POOLING_KEYS: Mapping[str, PoolingMode] = MappingProxyType(
    {
        "pooling_mode_cls_token": "cls",
        "pooling_mode_mean_tokens": "mean",
        "pooling_mode_max_tokens": "max",
        "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
        "pooling_mode_weightedmean_tokens": "weightedmean",
        "pooling_mode_lasttoken": "lasttoken",
    }
)

# The pipeline shapes bei can run: one letter per module kind, checked with a regex.
MODULE_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "Transformer": "T",
        "Pooling": "P",
        "Dense": "D",
        "Normalize": "N",
        # SparseEncoder (SPLADE): the MLM head's logits, pooled by SpladePooling.
        "MLMTransformer": "M",
        "SpladePooling": "S",
    }
)
PIPELINE_SHAPE = re.compile(r"^(T(PD*)?N?|[MT]S)$")
SPLADE_POOLING = ("max", "sum")
SPLADE_ACTIVATIONS = ("relu", "log1p_relu")


@dataclass(frozen=True)
class Splade:
    pooling: str  # SpladePooling pooling_strategy
    activation: str  # SpladePooling activation_function


@dataclass(frozen=True)
class Pooling:
    mode: PoolingMode
    include_prompt: bool = True


@dataclass(frozen=True)
class Modules:
    """What modules.json says; `pooling` is None when the pipeline has no Pooling module."""

    pooling: Pooling | None = None
    normalize: bool = False
    dense: tuple[DenseLayer, ...] = ()
    splade: Splade | None = None  # a SparseEncoder pipeline (MLMTransformer -> SpladePooling)


@dataclass(frozen=True)
class Prompts:
    prompts: tuple[tuple[str, str], ...] = ()
    default_prompt_name: str | None = None


def read_modules(model_dir: Path) -> Modules | None:
    """The sentence-transformers pipeline, or None when there is no modules.json."""
    path = model_dir / "modules.json"
    if not path.is_file():
        return None
    entries = read_json(path)
    if not isinstance(entries, list):
        raise UnsupportedModelError(f"{path} must hold a JSON list of modules.")
    kinds = [_kind(entry, path) for entry in entries]
    shape = "".join(MODULE_KINDS[kind] for kind, _ in kinds)
    if not PIPELINE_SHAPE.match(shape):
        raise UnsupportedModelError(
            f"{path} has modules in an order bei cannot run: {[kind for kind, _ in kinds]}.",
            hint="bei runs Transformer -> Pooling -> Dense (any number) -> Normalize.",
        )
    transformer_path = kinds[0][1]
    if transformer_path:
        raise UnsupportedModelError(
            f"{path}: the Transformer module lives in {transformer_path!r}; bei expects it at "
            "the checkpoint root.",
            hint=f'Move {transformer_path}/* to the root and set its path to "".',
        )
    by_kind = [(kind, model_dir / module_path) for kind, module_path in kinds]
    if shape in ("MS", "TS"):  # ST 6 saves the MLM as a fill-mask Transformer
        return Modules(splade=read_splade(by_kind[1][1] / "config.json"))
    pooling = [read_pooling(d / "config.json") for kind, d in by_kind if kind == "Pooling"]
    dense = tuple(
        read_dense(d / "config.json", str(d.relative_to(model_dir)))
        for kind, d in by_kind
        if kind == "Dense"
    )
    return Modules(
        pooling=pooling[0] if pooling else None,
        normalize=any(kind == "Normalize" for kind, _ in kinds),
        dense=dense,
    )


def _kind(entry: Any, path: Path) -> tuple[str, str]:
    if not isinstance(entry, dict):
        raise UnsupportedModelError(f"{path}: every module must be a JSON object.")
    kind = str(entry.get("type", "")).rsplit(".", 1)[-1]
    if kind not in MODULE_KINDS:
        raise UnsupportedModelError(
            f"{path}: module type {entry.get('type')!r} is not supported.",
            hint=f"bei runs sentence-transformers modules {', '.join(MODULE_KINDS)}.",
        )
    return kind, str(entry.get("path", ""))


def read_pooling(path: Path) -> Pooling:
    config = read_json_object(path)
    include_prompt = bool(config.get("include_prompt", True))
    if "pooling_mode" in config:
        raw = config["pooling_mode"]
        modes = [raw] if isinstance(raw, str) else list(raw)
    else:
        modes = [mode for key, mode in LEGACY_POOLING_KEYS.items() if config.get(key) is True]
    if len(modes) != 1:
        raise UnsupportedModelError(
            f"{path} selects pooling {modes or 'none'}; bei needs exactly one pooling mode "
            "(concatenated poolings are not supported).",
            hint=f"Set one of: {', '.join(POOLING_MODES)}.",
        )
    if modes[0] not in POOLING_MODES:
        raise UnsupportedModelError(
            f"{path}: unknown pooling mode {modes[0]!r}.",
            hint=f"Use one of: {', '.join(POOLING_MODES)}.",
        )
    return Pooling(mode=cast(PoolingMode, modes[0]), include_prompt=include_prompt)


def read_splade(path: Path) -> Splade:
    config = read_optional_object(path)
    pooling = str(config.get("pooling_strategy", "max"))
    activation = str(config.get("activation_function", "relu"))
    if pooling not in SPLADE_POOLING or activation not in SPLADE_ACTIVATIONS:
        raise UnsupportedModelError(
            f"{path}: SpladePooling pooling_strategy {pooling!r} / activation_function "
            f"{activation!r} is not supported.",
            hint=f"bei runs pooling_strategy {' or '.join(SPLADE_POOLING)} with "
            f"activation_function {' or '.join(SPLADE_ACTIVATIONS)}.",
        )
    return Splade(pooling=pooling, activation=activation)


def read_dense(path: Path, module_path: str) -> DenseLayer:
    config = read_json_object(path)
    try:
        return DenseLayer(
            path=module_path,
            in_features=int(config["in_features"]),
            out_features=int(config["out_features"]),
            bias=bool(config.get("bias", True)),
            activation=str(config.get("activation_function", "torch.nn.modules.linear.Identity")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UnsupportedModelError(
            f"{path} is not a Dense config (needs in_features and out_features): {exc}"
        ) from exc


def read_prompts(model_dir: Path) -> Prompts:
    path = model_dir / "config_sentence_transformers.json"
    config = read_optional_object(path)
    raw = config.get("prompts") or {}
    if not isinstance(raw, dict):
        raise UnsupportedModelError(f"{path}: prompts must be an object of name -> prompt.")
    prompts = tuple((str(name), str(prompt)) for name, prompt in raw.items())
    default = config.get("default_prompt_name")
    if default is not None and default not in raw:
        raise UnsupportedModelError(
            f"{path}: default_prompt_name {default!r} is not one of the prompts {sorted(raw)}.",
            hint="Add the prompt to `prompts` or remove default_prompt_name.",
        )
    return Prompts(prompts=prompts, default_prompt_name=default)
