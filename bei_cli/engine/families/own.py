"""bei's own model modules, by the model_type of the artifact's native config: the families
transformers has no class for (Jina-BERT v2 and its qk-post-norm variant, NomicBERT with
mixture-of-experts blocks)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from bei_cli.engine.families import jina_bert, jina_code, nomic_moe

OWN_FAMILIES: Mapping[str, Callable[..., torch.nn.Module]] = {
    jina_bert.MODEL_TYPE: jina_bert.load_jina_bert,
    jina_code.MODEL_TYPE: jina_code.load_jina_code,
    nomic_moe.MODEL_TYPE: nomic_moe.load_nomic_moe,
}


def own_family_loader(model_dir: Path) -> Callable[..., torch.nn.Module] | None:
    """bei's own loader for the checkpoint's model_type; None when transformers loads it."""
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        return None
    model_type = json.loads(config_path.read_text()).get("model_type")
    return OWN_FAMILIES.get(str(model_type))
