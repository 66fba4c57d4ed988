"""What bei's own encoder modules (jina_bert, jina_code, nomic_moe) share: the BERT-shaped part of
their settings, the padding mask as an additive attention bias, and the refusal of a quantized
checkpoint their float modules cannot compute."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bei_cli.engine.quantized_checkpoint import QUANT_FILE
from bei_cli.errors import UnsupportedModelError


@dataclass(frozen=True)
class EncoderSettings:
    """The config.json fields every one of these encoders reads, with the hub's defaults."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int

    @staticmethod
    def fields(config: Mapping[str, Any], *, layer_norm_eps: float) -> dict[str, Any]:
        """These fields read off `config`; `layer_norm_eps`: the remote code's default."""
        return {
            "vocab_size": int(config["vocab_size"]),
            "hidden_size": int(config["hidden_size"]),
            "num_hidden_layers": int(config["num_hidden_layers"]),
            "num_attention_heads": int(config["num_attention_heads"]),
            "intermediate_size": int(config["intermediate_size"]),
            "type_vocab_size": int(config.get("type_vocab_size", 2)),
            "layer_norm_eps": float(config.get("layer_norm_eps", layer_norm_eps)),
            "pad_token_id": int(config.get("pad_token_id") or 0),
        }


def padding_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The padding mask as an additive bias, (batch, 1, 1, length): `mask` is the (batch, length)
    0/1 mask, or the CUDA-graph path's (batch, 1, length, length) additive one
    (cuda_graphs.additive_mask), returned as it is."""
    if mask.dim() == 4:
        return mask.to(dtype)
    blocked = torch.zeros(mask.shape, device=mask.device, dtype=dtype)
    return blocked.masked_fill(mask == 0, torch.finfo(dtype).min)[:, None, None, :]


def refuse_quantized(model_dir: Path, family: str, module: str, build_hint: str) -> None:
    """A quantized (FP8 / NVFP4) checkpoint of a family bei computes in float only is refused:
    casting its stored values back would serve other numbers than the model's."""
    if (model_dir / QUANT_FILE).is_file():
        raise UnsupportedModelError(
            f"{model_dir} is a quantized (FP8 / NVFP4) {family} checkpoint; bei's {module} has "
            "no quantized compute, and casting the stored values would be wrong.",
            hint=f"Build {build_hint} without quantization (float32, float16 or bfloat16).",
        )
