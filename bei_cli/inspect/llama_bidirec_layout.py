"""llama-embed-nemotron's hub layout (`model_type: llama_bidirec`, `LlamaBidirectionalModel`)
read as transformers' native `llama` LlamaModel with full attention.

NVIDIA's `llama_bidirectional_model.py` (the `auto_map` target; NeMo AutoModel writes the same
classes) subclasses transformers' LlamaConfig / LlamaModel: the config adds `pooling` (what the
remote reranker and vLLM / SGLang pool with; "avg" is the mean over non-pad tokens) and
`temperature` (divides the remote *reranker's* logits, never read by LlamaBidirectionalModel);
the model sets every layer's `self_attn.is_causal = False` and replaces the causal mask with a
padding-only one. Nothing else differs, so every LlamaConfig key keeps its name and meaning, and
the native config only gains `is_causal: false` (see engine.attention). The weights are
LlamaModel's (no `lm_head`), with or without the `model.` prefix: transformers' LlamaModel
reads both, and the loading check proves every tensor found its place.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from bei_cli.inspect.guards import Violation, raise_violations
from bei_cli.inspect.hub_keys import (
    INFERENCE_ONLY,
    KERNEL_SWITCH,
    HubLayout,
    Ignore,
    Pin,
    same_names,
)
from bei_cli.inspect.profile import PoolingMode

LLAMA_BIDIRECTIONAL_TYPE = "llama_bidirec"
ARCHITECTURES = {"LlamaBidirectionalModel": "LlamaModel"}
# The remote config's `pooling` values bei computes, as sentence-transformers pooling modes.
POOLING: Mapping[str, PoolingMode] = MappingProxyType({"avg": "mean"})


def _finish(hub: Mapping[str, Any], native: dict[str, Any]) -> None:
    others = [a for a in hub.get("architectures") or [] if a not in ARCHITECTURES]
    if others:
        reason = (
            "only LlamaBidirectionalModel (the embedder) is implemented; the remote reranker "
            "pools with `pooling` and divides by `temperature`, which transformers' "
            "LlamaForSequenceClassification does not"
        )
        raise_violations([Violation("architectures", others, reason)], hub)
    native.pop("auto_map", None)  # read here; serving never imports the checkpoint's code
    native["is_causal"] = False
    if "rope_parameters" not in native:
        native["rope_parameters"] = _rope_parameters(hub, native)


def _rope_parameters(hub: Mapping[str, Any], native: dict[str, Any]) -> dict[str, Any]:
    """transformers 4.x's `rope_theta` + `rope_scaling` as 5.x's `rope_parameters` (what
    LlamaConfig itself converts them to), so the artifact and `bei inspect` show the rotary
    settings; LlamaConfig's default base (10000) applies when the config states none."""
    theta = float(native.pop("rope_theta", 10_000.0))
    scaling = native.pop("rope_scaling", None) or {"rope_type": "default"}
    kind = scaling.get("rope_type", scaling.get("type")) if isinstance(scaling, dict) else None
    if not isinstance(kind, str):
        reason = "rope_scaling must be a mapping with a rope_type"
        raise_violations([Violation("rope_scaling", scaling, reason)], hub)
    rest = {key: value for key, value in scaling.items() if key not in ("type", "rope_type")}
    return {**rest, "rope_type": kind, "rope_theta": theta}


def _pooling(hub: Mapping[str, Any]) -> PoolingMode:
    """Read after the keys are checked: the Pin has refused any value POOLING lacks. Absent,
    LlamaBidirectionalConfig's own default ("avg") applies."""
    return POOLING[str(hub.get("pooling", "avg"))]


LLAMA_BIDIRECTIONAL = HubLayout(
    family="llama-embed-nemotron (LlamaBidirectionalModel)",
    native_model_type="llama",
    keys=MappingProxyType(
        {
            **same_names(
                "hidden_size",
                "intermediate_size",
                "num_hidden_layers",
                "num_attention_heads",
                "num_key_value_heads",
                "head_dim",
                "hidden_act",
                "max_position_embeddings",
                "rms_norm_eps",
                "attention_bias",
                "mlp_bias",
                # LlamaRotaryEmbedding reads these as in the remote class (which is transformers'
                # LlamaModel); rope_theta / rope_scaling become rope_parameters (_finish).
                "rope_theta",
                "rope_scaling",
                "rope_parameters",
            ),
            "pooling": Pin(tuple(POOLING), "only the mean over non-pad tokens is implemented"),
            "temperature": Ignore("divides the remote reranker's logits; unread by the embedder"),
            "is_causal": Pin((False,), "LlamaBidirectionalModel always attends bidirectionally"),
            "pretraining_tp": Pin((1,), "tensor-parallel pretraining slices are not implemented"),
            "attention_dropout": Ignore(INFERENCE_ONLY),
            "attn_implementation": Ignore(KERNEL_SWITCH),
        }
    ),
    architectures=MappingProxyType(ARCHITECTURES),
    finish=_finish,
    pooling=_pooling,
    note=(
        "config.json auto_map ignored: bei reads LlamaBidirectionalModel as transformers' own "
        "LlamaModel with full attention (is_causal: false, padding masked)"
    ),
)
