"""What the FP8 and NVFP4 quantizers (fp8_quantize, fp4_quantize) share before they differ.

Both load the checkpoint exactly as the torch engine serves it (fp32, CPU), pick the Linears
the plan's `layers` selects (those inside numbered transformer blocks; `mlp_only` leaves the
attention projections out) and run the engine on the calibration texts, tokenized and batched
by length, capped at the model's own max_seq_len.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from bei_cli.engine.base import Batch
from bei_cli.errors import BuildError
from bei_cli.inspect.profile import ModelProfile

if TYPE_CHECKING:
    from bei_cli.engine.torch_engine import TorchEngine

# Truss's quantization_config defaults (calib_size, calib_max_seq_length); the sequence length is
# further capped by the model's own max_seq_len.
DEFAULT_CALIB_SIZE = 1024
DEFAULT_CALIB_MAX_SEQ_LENGTH = 2048
CALIB_BATCH_SIZE = 32

# A Linear inside a numbered transformer block (encoder.layer.3.*, layers.11.*): heads, poolers
# and classifiers outside the blocks stay in full precision.
IN_BLOCK = re.compile(r"(^|\.)\d+\.")
# An attention projection: any path segment naming attention (attention, self_attn, attn, ...).
IN_ATTENTION = re.compile(r"(^|\.)[^.]*(attn|attention)[^.]*\.")

LINEAR_SELECTORS: dict[str, Callable[[str], bool]] = {
    "all": lambda name: bool(IN_BLOCK.search(name)),
    "mlp_only": lambda name: bool(IN_BLOCK.search(name)) and not IN_ATTENTION.search(name),
}


def selected_linears(model: torch.nn.Module, layers: str) -> tuple[str, ...]:
    """Names of the Linears the plan's `layers` ("all" or "mlp_only") quantizes."""
    if layers not in LINEAR_SELECTORS:
        raise BuildError(
            f"FP8 cannot quantize layers={layers!r}; use one of {', '.join(LINEAR_SELECTORS)}."
        )
    selects = LINEAR_SELECTORS[layers]
    return tuple(
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and selects(name)
    )


def calibration_engine(
    model_dir: Path, profile: ModelProfile, texts: Sequence[str], calib_size: int, label: str
) -> tuple[list[str], TorchEngine]:
    """The first `calib_size` texts (refused when none) and the fp32 CPU engine to run them."""
    from bei_cli.engine.torch_engine import load_torch_engine

    calib_texts = list(texts[:calib_size])
    if not calib_texts:
        raise BuildError(f"{label} calibration needs at least one text.")
    return calib_texts, load_torch_engine(model_dir, profile, dtype="float32", device="cpu")


def calibration_inputs(
    model_dir: Path, engine: TorchEngine, texts: Sequence[str], calib_max_seq_length: int
) -> tuple[int, list[Batch]]:
    """The sequence-length cap calibration runs under, and the batches of `texts` it runs."""
    max_seq_len = min(calib_max_seq_length, engine.info.max_seq_len)
    return max_seq_len, calibration_batches(model_dir, texts, max_seq_len)


def calibration_batches(model_dir: Path, texts: Sequence[str], max_seq_len: int) -> list[Batch]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    encodings = tokenizer.encode_batch(list(texts))
    ordered = sorted(encodings, key=lambda e: len(e.ids))  # little padding per batch
    return [
        Batch.from_sequences(
            [e.ids[:max_seq_len] for e in chunk], [e.type_ids[:max_seq_len] for e in chunk]
        )
        for chunk in (
            ordered[i : i + CALIB_BATCH_SIZE] for i in range(0, len(ordered), CALIB_BATCH_SIZE)
        )
    ]
