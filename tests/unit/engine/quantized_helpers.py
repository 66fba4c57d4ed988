"""What the FP8 and NVFP4 tests share: quantized copies of the tiny checkpoint, made once a
module, and the corruptions that rewrite a copy's weights file."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from bei_cli.engine.checkpoint_files import Progress
from bei_cli.inspect.profile import ModelProfile
from bei_cli.quantize.gate import calibration_texts
from bei_cli.quantize.plan import QuantPlan
from tests.unit.engine.helpers import TinyFactory

Quantizer = Callable[[Path, ModelProfile, QuantPlan, list[str], Progress], None]
Tensors = dict[str, torch.Tensor]


def quantized_copies(
    tiny_checkpoint: TinyFactory,
    tmp_path_factory: pytest.TempPathFactory,
    quantize: Quantizer,
    plan: Callable[[str], QuantPlan],
    folder: str,
) -> Callable[[str], Path]:
    """make(quantization) -> a copy of the tiny "mean" checkpoint quantized by `quantize` under
    `plan(quantization)`, made on first use."""
    made: dict[str, Path] = {}

    def make(quantization: str) -> Path:
        if quantization not in made:
            source, profile = tiny_checkpoint("mean")
            target = tmp_path_factory.mktemp(folder) / quantization
            shutil.copytree(source, target)
            quantize(target, profile, plan(quantization), calibration_texts(), print)
            made[quantization] = target
        return made[quantization]

    return make


def corrupted_copy(
    source: Path, target: Path, read: Callable[[Path], object], corrupt: Callable[[Path], None]
) -> Path:
    """A copy of the quantized checkpoint `source` at `target`, read intact, then corrupted."""
    shutil.copytree(source, target)
    read(target)  # intact before
    corrupt(target)
    return target


def rewrite(model_dir: Path, change: Callable[[Tensors], None]) -> None:
    tensors = load_file(model_dir / "model.safetensors")
    change(tensors)
    save_file(tensors, str(model_dir / "model.safetensors"))


def set_tensor(key: str, value: torch.Tensor) -> Callable[[Tensors], None]:
    return lambda tensors: tensors.__setitem__(key, value)
