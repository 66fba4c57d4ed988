"""Quantized checkpoint formats the torch engine loads: which loader and which compute hook.

A quantized artifact carries `model/bei_quant.json`; its `format` picks a row of `FORMATS`. Each
row loads the model dequantized (runs anywhere) and then swaps in the low-precision kernels the
device has (FP8 `_scaled_mm` on cc >= 8.9, NVFP4 `scaled_mm` on cc >= 10.0), or logs once why
it runs dequantized. A checkpoint without bei_quant.json loads as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bei_cli.engine import fp4_checkpoint, fp8_checkpoint, quantized_checkpoint
from bei_cli.engine.fp4_linear import use_fp4_compute
from bei_cli.engine.fp8_linear import use_fp8_compute
from bei_cli.engine.manifest import REBUILD_HINT
from bei_cli.errors import ArtifactError

QUANT_FILE = quantized_checkpoint.QUANT_FILE
Loader = quantized_checkpoint.Loader


@dataclass(frozen=True)
class QuantizedFormat:
    from_pretrained: Callable[[Any], Loader]  # transformers Auto class -> its loader
    use_compute: Callable[[torch.nn.Module, Path, torch.device], None]


FORMATS: dict[str, QuantizedFormat] = {
    fp8_checkpoint.FORMAT: QuantizedFormat(fp8_checkpoint.fp8_from_pretrained, use_fp8_compute),
    fp4_checkpoint.FORMAT: QuantizedFormat(fp4_checkpoint.fp4_from_pretrained, use_fp4_compute),
}


def quantized_format(model_dir: Path) -> QuantizedFormat | None:
    """The format row of model_dir's bei_quant.json; None for a checkpoint without one."""
    path = model_dir / QUANT_FILE
    if not path.is_file():
        return None
    try:
        name = json.loads(path.read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError) as exc:
        raise ArtifactError(
            f"quantized checkpoint: {QUANT_FILE} is unreadable: {exc}", hint=REBUILD_HINT
        ) from exc
    if name not in FORMATS:
        raise ArtifactError(
            f"quantized checkpoint: {QUANT_FILE} names the format {name!r}, which this bei "
            f"release does not load (it loads {', '.join(sorted(FORMATS))}).",
            hint=REBUILD_HINT,
        )
    return FORMATS[name]


def quantized_from_pretrained(auto_class: Any, model_dir: Path) -> Loader | None:
    """The loader of model_dir's quantized format, or None for a plain checkpoint."""
    found = quantized_format(model_dir)
    return None if found is None else found.from_pretrained(auto_class)


def use_quantized_compute(model: torch.nn.Module, model_dir: Path, device: torch.device) -> None:
    """Swap in the device's low-precision kernels for a quantized checkpoint; else nothing."""
    found = quantized_format(model_dir)
    if found is not None:
        found.use_compute(model, model_dir, device)
