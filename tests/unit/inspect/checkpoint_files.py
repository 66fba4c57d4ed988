"""Hand-written checkpoint metadata for inspection tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

POOLING_MODES = ("cls", "mean", "max", "lasttoken", "weightedmean", "mean_sqrt_len_tokens")

BERT_CONFIG: dict[str, Any] = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "hidden_size": 32,
    "max_position_embeddings": 512,
    "pad_token_id": 0,
    "id2label": {"0": "LABEL_0", "1": "LABEL_1"},  # transformers writes these into every config
}


def write_checkpoint(target: Path, files: dict[str, Any]) -> Path:
    """Hand-written checkpoint metadata: {relative path: JSON value}."""
    for name, content in files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))
    return target
