"""Loading a transformers model so that no weight is left randomly initialised.

`from_pretrained` fills every parameter the checkpoint lacks with random values and drops
every tensor the model has no place for, with at most a log line. A served model must never
hold a random tensor, so the loading info is checked: any missing, unexpected or mismatched key
refuses the load (exit 4) and names the keys. The only exceptions are the parts an embedder does
not run: the pretraining / classification heads a base-model load drops (`lm_head`, `cls.`,
`classifier`, ...) and the BERT-style pooler, which bei never reads (pooling is the checkpoint's
sentence-transformers Pooling module).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from bei_cli.errors import UnsupportedModelError

# Heads a base model (AutoModel) leaves behind when loading a *ForMaskedLM / *ForCausalLM /
# classifier checkpoint, and the pooler no embedding is read from: unused, so they may be absent
# from the model (unexpected). Only the pooler may be absent from the checkpoint (missing).
UNUSED_BY_EMBEDDERS = re.compile(
    r"^(lm_head|cls|classifier|score|head|dense|mlm|pre_classifier|generator_lm_head|"
    r"generator_predictions|discriminator_predictions|pooler)(\.|$)|(^|\.)pooler\."
)
UNREAD_BY_EMBEDDERS = re.compile(r"(^|\.)pooler\.")
SHOWN_KEYS = 6


def loading_problems(info: dict[str, Any], *, base_model_load: bool) -> list[str]:
    """Human-readable problems in transformers' loading info; empty when the load is exact."""
    problems = []
    missing = _keys(info.get("missing_keys", ()), UNREAD_BY_EMBEDDERS if base_model_load else None)
    unexpected = _keys(
        info.get("unexpected_keys", ()), UNUSED_BY_EMBEDDERS if base_model_load else None
    )
    mismatched = sorted(str(k) for k in info.get("mismatched_keys", ()) or ())
    if missing:
        problems.append(f"missing weights (would be random): {_show(missing)}")
    if unexpected:
        problems.append(f"weights the model has no place for: {_show(unexpected)}")
    if mismatched:
        problems.append(f"weights of the wrong shape: {_show(mismatched)}")
    problems += [str(message) for message in info.get("error_msgs", ()) or ()]
    return problems


def checked_from_pretrained(
    loader: Any, *, base_model_load: bool
) -> Callable[..., torch.nn.Module]:
    """`loader.from_pretrained` that refuses a load with missing or unexpected weights."""

    def load(model_dir: Path, **kwargs: Any) -> torch.nn.Module:
        model, info = loader.from_pretrained(model_dir, output_loading_info=True, **kwargs)
        problems = loading_problems(info, base_model_load=base_model_load)
        if problems:
            raise UnsupportedModelError(
                f"{type(model).__name__} does not match the checkpoint's weights in "
                f"{model_dir}: {'; '.join(problems)}.",
                hint="bei never serves a model with randomly initialised or dropped weights: "
                "the checkpoint's layout is not the one its config.json names (see "
                "docs/models.md for the layouts bei reads).",
            )
        return model

    return load


def _keys(keys: Iterable[Any], allowed: re.Pattern[str] | None) -> list[str]:
    names = sorted(str(k) for k in keys or ())
    if allowed is not None:
        names = [name for name in names if not allowed.search(name)]
    return names


def _show(keys: list[str]) -> str:
    more = len(keys) - SHOWN_KEYS
    return ", ".join(keys[:SHOWN_KEYS]) + (f", ... ({len(keys)} in all)" if more > 0 else "")


def read_safetensors(model_dir: Path, model_name: str) -> dict[str, torch.Tensor]:
    """Every tensor of model_dir's *.safetensors files, for bei's own modules."""
    from safetensors.torch import load_file

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise UnsupportedModelError(
            f"{model_dir} has no *.safetensors weights for {model_name}.",
            hint="Save the checkpoint as safetensors (save_pretrained does by default).",
        )
    weights: dict[str, torch.Tensor] = {}
    for path in files:
        weights.update(load_file(path))
    return weights


def load_exactly(
    model: torch.nn.Module,
    weights: dict[str, torch.Tensor],
    model_dir: Path,
    hint: str,
    *,
    base_model_load: bool = True,
) -> None:
    """Load `weights` into bei's own `model`, refusing (exit 4, naming the keys) unless every
    parameter comes from the checkpoint and every tensor finds its place (with
    `base_model_load`, the pooler and the pretraining heads an embedder never runs may be left
    over; a classifier uses every tensor)."""
    expected = model.state_dict()
    info = {
        "missing_keys": sorted(set(expected) - set(weights)),
        "unexpected_keys": sorted(set(weights) - set(expected)),
        "mismatched_keys": sorted(
            k for k in expected if k in weights and weights[k].shape != expected[k].shape
        ),
    }
    problems = loading_problems(info, base_model_load=base_model_load)
    if problems:
        raise UnsupportedModelError(
            f"{type(model).__name__} does not match the checkpoint's weights in {model_dir}: "
            f"{'; '.join(problems)}.",
            hint=hint,
        )
    model.load_state_dict({k: weights[k] for k in expected}, strict=True)
