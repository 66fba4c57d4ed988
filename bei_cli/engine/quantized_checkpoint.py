"""What bei's quantized checkpoint formats (fp8_checkpoint, fp4_checkpoint) share on disk.

Both replace model_dir's weights by one safetensors file and describe it in `bei_quant.json`
(its `format` tells them apart); both read that file back, refuse low-precision tensors it does
not list, decode to the model's own state dict and load it strictly into the transformers class
built from config.json. Only the tensors each Linear stores, and their checks, differ: those
stay in the format modules, which pass their own `corrupt` (the error naming the format).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch

from bei_cli.errors import ArtifactError

QUANT_FILE = "bei_quant.json"
WEIGHTS_FILE = "model.safetensors"
Corrupt = Callable[[str], ArtifactError]  # a problem -> the format's ArtifactError
Loader = Callable[..., torch.nn.Module]  # from_pretrained's signature: (model_dir, *, dtype, ...)


class QuantLayout(Protocol):
    """A format's bei_quant.json dataclass."""

    @property
    def weights_file(self) -> str: ...

    def to_json(self) -> str: ...


class DequantizedCheckpoint(Protocol):
    def dequantized(self, dtype: torch.dtype) -> dict[str, torch.Tensor]: ...


LayoutT = TypeVar("LayoutT", bound=QuantLayout)


def layout_json(layout: Any) -> str:
    """A layout dataclass as bei_quant.json text."""
    return json.dumps(asdict(layout), indent=2, sort_keys=True) + "\n"


def layout_fields(text: str, expected_format: str) -> dict[str, Any]:
    """bei_quant.json's fields, once its `format` is the expected one (else ValueError)."""
    data: dict[str, Any] = json.loads(text)
    if data.get("format") != expected_format:
        raise ValueError(f"format {data.get('format')!r} is not {expected_format!r}")
    return data


def write_quantized_checkpoint(
    model_dir: Path, tensors: Mapping[str, torch.Tensor], layout: QuantLayout
) -> None:
    """Replace the weights in model_dir (plain or sharded) by one file holding `tensors`."""
    from safetensors.torch import save_file

    for old in (model_dir / "model.safetensors.index.json", *model_dir.glob("model-*.safetensors")):
        old.unlink(missing_ok=True)
    # safetensors refuses tensors that share storage (tied weights); give each its own copy.
    own = {name: tensor.detach().contiguous().clone() for name, tensor in tensors.items()}
    save_file(own, str(model_dir / layout.weights_file), metadata={"format": "pt"})
    (model_dir / QUANT_FILE).write_text(layout.to_json(), encoding="utf-8")


def read_layout_and_weights(
    model_dir: Path, parse: Callable[[str], LayoutT], corrupt: Corrupt
) -> tuple[LayoutT, dict[str, torch.Tensor]]:
    """bei_quant.json parsed by `parse`, and every tensor of the weights file it names."""
    from safetensors.torch import load_file

    try:
        layout = parse((model_dir / QUANT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise corrupt(f"{QUANT_FILE} is unreadable: {exc}") from exc
    weights = model_dir / layout.weights_file
    if not weights.is_file():
        raise corrupt(f"{layout.weights_file}, the weights {QUANT_FILE} names, is missing.")
    return layout, load_file(weights)


def refuse_unlisted(
    tensors: Mapping[str, torch.Tensor],
    quantized_dtype: torch.dtype,
    modules: Iterable[str],
    what: str,
    corrupt: Corrupt,
) -> None:
    """Every `quantized_dtype` tensor must be the weight of one of the listed `modules`."""
    listed = {f"{name}.weight" for name in modules}
    unlisted = sorted(
        k for k, t in tensors.items() if t.dtype == quantized_dtype and k not in listed
    )
    if unlisted:
        raise corrupt(f"{what} {', '.join(unlisted)} are not listed in {QUANT_FILE}.")


def dequantized_state(
    tensors: Mapping[str, torch.Tensor],
    scale_keys: set[str],
    quantized_dtype: torch.dtype,
    decode: Callable[[str, torch.Tensor], torch.Tensor],
    dtype: torch.dtype,
) -> dict[str, torch.Tensor]:
    """The model's state dict in `dtype`: `quantized_dtype` tensors decoded, scales dropped."""
    state: dict[str, torch.Tensor] = {}
    for key, tensor in tensors.items():
        if key in scale_keys:
            continue
        if tensor.dtype == quantized_dtype:
            tensor = decode(key, tensor)
        state[key] = tensor.to(dtype) if tensor.is_floating_point() else tensor
    return state


def dequantized_from_pretrained(
    auto_class: Any, read: Callable[[Path], DequantizedCheckpoint], corrupt: Corrupt
) -> Loader:
    """`from_pretrained` for a quantized checkpoint: the transformers class built from
    config.json, then loaded strictly with the dequantized weights."""

    def load(model_dir: Path, *, dtype: torch.dtype, **kwargs: Any) -> torch.nn.Module:
        from transformers import AutoConfig

        checkpoint = read(model_dir)
        model = auto_class.from_config(AutoConfig.from_pretrained(model_dir), dtype=dtype, **kwargs)
        try:
            model.load_state_dict(checkpoint.dequantized(dtype), strict=True)
        except RuntimeError as exc:
            raise corrupt(f"its tensors do not match the model: {exc}") from exc
        return model

    return load
