"""The artifact's config.json in the transformers-native layout.

A hub-layout checkpoint (Nomic's `n_embd`, GTE's `model_type: new`, EuroBERT's remote-code
config) is served by transformers' native class: the artifact gets the native config that
`inspect.hub_layouts` derives (its weights stay as published -- transformers' own conversion
tables read the hub's weight names, and the loading check proves every tensor found its place).
`auto_map` is dropped: serving never imports a checkpoint's code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from bei_cli.inspect.files import read_json_object
from bei_cli.inspect.hub_layouts import to_native


def write_native_config(src: Path, dst: Path, report: Callable[[str], None]) -> None:
    """Rewrite dst/config.json as the native config of src/config.json, when they differ."""
    original = read_json_object(src / "config.json")
    native = to_native(original)
    config = {key: value for key, value in native.config.items() if key != "auto_map"}
    if config == original:
        return
    (dst / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    family = native.family or str(original.get("model_type", ""))
    report(f"  config.json written in the transformers-native layout ({family})")
