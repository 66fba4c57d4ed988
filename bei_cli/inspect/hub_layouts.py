"""Hub-published config.json layouts -> the transformers-native config of the same model.

Nomic (`n_embd`, `rotary_emb_fraction`, ...), GTE (`model_type: new`, `NewModel`) and EuroBERT
ship remote code on the hub; transformers >= 5.24 has native classes for them (`nomic_bert`,
`gte`, `eurobert`) whose weight-conversion tables already read the hub's weight names. What the
hub config says must therefore be turned into the native config, and every key must be
understood: a key is renamed, pinned to the values the native class computes, or known to be an
implementation switch (fused kernels, dropout) that cannot change the result. An unknown key, or
a pinned key with another value, refuses the checkpoint (exit 4) naming the key.

The key vocabulary (Rename / Pin / Ignore) is `hub_keys`; Jina-BERT v2's layouts are
`jina_layout`, llama-embed-nemotron's (`llama_bidirec`) `llama_bidirec_layout`, NomicBERT's
mixture-of-experts layout (nomic-embed-text-v2-moe) `nomic_moe_layout`. Pure: dict in,
dict out. The engine writes the native config into the artifact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from bei_cli.inspect.guards import Violation, raise_violations
from bei_cli.inspect.hub_keys import (
    COMMON_KEYS,
    INFERENCE_ONLY,
    KERNEL_SWITCH,
    HubLayout,
    Ignore,
    Pin,
    Rename,
    pinned_value_ok,
    same_names,
)
from bei_cli.inspect.jina_layout import jina_layout
from bei_cli.inspect.llama_bidirec_layout import LLAMA_BIDIRECTIONAL, LLAMA_BIDIRECTIONAL_TYPE
from bei_cli.inspect.nomic_moe_layout import NOMIC_MOE, is_moe_config
from bei_cli.inspect.profile import PoolingMode


def _nomic_finish(hub: Mapping[str, Any], native: dict[str, Any]) -> None:
    native["hidden_act"] = "silu"  # swiglu: silu(gate) * up, which NomicBertMLP computes
    native["rope_parameters"] = {
        "rope_type": "default",
        "rope_theta": float(hub.get("rotary_emb_base", 10_000)),
    }
    if native.get("intermediate_size") is None:
        native["intermediate_size"] = 4 * int(native["hidden_size"])  # the remote code's default


NOMIC = HubLayout(
    family="NomicBERT",
    native_model_type="nomic_bert",
    keys=MappingProxyType(
        {
            "n_embd": Rename("hidden_size"),
            "n_layer": Rename("num_hidden_layers"),
            "n_head": Rename("num_attention_heads"),
            "n_inner": Rename("intermediate_size"),
            "n_positions": Rename("max_position_embeddings"),
            "layer_norm_epsilon": Rename("layer_norm_eps"),
            "type_vocab_size": Rename("type_vocab_size"),
            "activation_function": Pin(("swiglu",), "NomicBertMLP is a SwiGLU feed-forward"),
            "rotary_emb_base": Ignore("read into rope_parameters.rope_theta"),
            "rotary_emb_fraction": Pin((1.0, 1), "native rotary covers the whole head"),
            "rotary_emb_interleaved": Pin((False,), "native rotary rotates halves"),
            "rotary_emb_scale_base": Pin((None,), "xPos scaling is not implemented"),
            "rotary_scaling_factor": Pin((None,), "dynamic NTK scaling is not implemented"),
            "max_trained_positions": Ignore("only read with rotary_scaling_factor"),
            "causal": Pin((False,), "NomicBERT is served bidirectionally"),
            "prenorm": Pin((False,), "NomicBertLayer is post-norm"),
            "parallel_block": Pin((False,), "NomicBertLayer runs attention then MLP"),
            "parallel_block_tied_norm": Pin((False,), "NomicBertLayer runs attention then MLP"),
            "use_rms_norm": Pin((False,), "NomicBertLayer uses LayerNorm"),
            "qkv_proj_bias": Pin((False,), "NomicBertAttention has no projection bias"),
            "mlp_fc1_bias": Pin((False,), "NomicBertMLP has no bias"),
            "mlp_fc2_bias": Pin((False,), "NomicBertMLP has no bias"),
            "scale_attn_weights": Pin((True,), "attention is scaled by 1/sqrt(head_dim)"),
            "scale_attn_by_inverse_layer_idx": Pin((False,), "no per-layer attention scaling"),
            "num_experts": Pin((None, 0, 1), "no experts here (num_experts > 1: nomic_moe_layout)"),
            "moe_every_n_layers": Pin(
                (None, 0), "MoE blocks without num_experts > 1 are undefined"
            ),
            "attn_pdrop": Ignore(INFERENCE_ONLY),
            "embd_pdrop": Ignore(INFERENCE_ONLY),
            "resid_pdrop": Ignore(INFERENCE_ONLY),
            "summary_first_dropout": Ignore(INFERENCE_ONLY),
            "summary_activation": Ignore("GPT-2 sequence-summary head, unused by NomicBertModel"),
            "summary_proj_to_labels": Ignore("GPT-2 sequence-summary head, unused"),
            "summary_type": Ignore("GPT-2 sequence-summary head, unused"),
            "summary_use_proj": Ignore("GPT-2 sequence-summary head, unused"),
            "dense_seq_output": Ignore("pretraining MLM-loss switch"),
            "use_xentropy": Ignore("pretraining loss kernel"),
            "reorder_and_upcast_attn": Ignore("GPT-2 training precision switch"),
            "pad_vocab_size_multiple": Ignore("vocab_size already holds the padded size"),
            "fused_bias_fc": Ignore(KERNEL_SWITCH),
            "fused_dropout_add_ln": Ignore(KERNEL_SWITCH),
            "use_flash_attn": Ignore(KERNEL_SWITCH),
        }
    ),
    finish=_nomic_finish,
)


def _rope_theta_finish(default_theta: float) -> Callable[[Mapping[str, Any], dict[str, Any]], None]:
    def finish(hub: Mapping[str, Any], native: dict[str, Any]) -> None:
        native["rope_parameters"] = {
            "rope_type": "default",
            "rope_theta": float(hub.get("rope_theta", default_theta)),
        }

    return finish


def _gte_finish(hub: Mapping[str, Any], native: dict[str, Any]) -> None:
    """GTE's `rope_scaling: {type: ntk, factor: f}` is a fixed NTK rotary: the remote code (and
    TEI's candle GTE) build inv_freq from base * f, then divide every frequency by f^(2/dim).
    That is transformers' `linear` rope (inv_freq / factor) with rope_theta = base * f and
    factor = f^(2/dim): the same frequencies, in the native class."""
    _rope_theta_finish(160_000.0)(hub, native)
    scaling = hub.get("rope_scaling")
    if scaling is None:
        return
    kind = scaling.get("type", scaling.get("rope_type")) if isinstance(scaling, dict) else None
    factor = scaling.get("factor") if isinstance(scaling, dict) else None
    if kind != "ntk" or not isinstance(factor, (int, float)) or factor < 1:
        reason = "GTE rope scaling other than fixed NTK with factor >= 1 is not implemented"
        raise_violations([Violation("rope_scaling", scaling, reason)], hub)
    head_dim = int(native["hidden_size"]) // int(native["num_attention_heads"])
    native["rope_parameters"] = {
        "rope_type": "linear",
        "rope_theta": native["rope_parameters"]["rope_theta"] * float(factor),
        "factor": float(factor) ** (2.0 / head_dim),
    }


GTE = HubLayout(
    family="GTE (Alibaba NewModel)",
    native_model_type="gte",
    architectures=MappingProxyType(
        {
            "NewModel": "GteModel",
            "NewForSequenceClassification": "GteForSequenceClassification",
            "NewForMaskedLM": "GteForMaskedLM",
            "NewForTokenClassification": "GteForTokenClassification",
        }
    ),
    keys=MappingProxyType(
        {
            **same_names(
                "hidden_size",
                "num_hidden_layers",
                "num_attention_heads",
                "intermediate_size",
                "hidden_act",
                "max_position_embeddings",
                "type_vocab_size",
                "layer_norm_eps",
                "hidden_dropout_prob",
                "attention_probs_dropout_prob",
            ),
            "position_embedding_type": Pin(("rope",), "GteModel positions with rotary"),
            "rope_theta": Ignore("read into rope_parameters.rope_theta"),
            "rope_scaling": Ignore("read into rope_parameters (fixed NTK, see _gte_finish)"),
            "layer_norm_type": Pin(("layer_norm",), "GteLayer uses LayerNorm"),
            "logn_attention_scale": Pin((False,), "log-n attention scaling is not implemented"),
            "logn_attention_clip1": Pin((False,), "log-n attention scaling is not implemented"),
            "pack_qkv": Pin((True,), "the weight tables read the packed qkv_proj"),
            "unpad_inputs": Ignore(KERNEL_SWITCH),
            "use_memory_efficient_attention": Ignore(KERNEL_SWITCH),
        }
    ),
    finish=lambda hub, native: _gte_finish(hub, native),
)


def _eurobert_finish(hub: Mapping[str, Any], native: dict[str, Any]) -> None:
    if "clf_pooling" in hub:
        native["classifier_pooling"] = hub["clf_pooling"]
    theta = native.pop("rope_theta", None)
    if "rope_parameters" in native:
        return
    if theta is None:  # the remote code's default is not transformers' (10000): never guess
        reason = "a EuroBERT hub config must state its rotary base"
        raise_violations([Violation("rope_theta", None, reason)], hub)
    native["rope_parameters"] = {"rope_type": "default", "rope_theta": float(theta)}


EUROBERT = HubLayout(
    family="EuroBERT",
    native_model_type="eurobert",
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
                "mask_token_id",
                "classifier_pooling",
                "rope_theta",
                "rope_parameters",
            ),
            "rope_scaling": Pin((None,), "rope scaling is not verified for EuroBERT"),
            "clf_pooling": Ignore("read into classifier_pooling"),
            "pretraining_tp": Pin((1,), "tensor-parallel pretraining slices are not implemented"),
            "attention_dropout": Ignore(INFERENCE_ONLY),
            "hidden_dropout": Ignore(INFERENCE_ONLY),
        }
    ),
    finish=_eurobert_finish,
)


# Keys of Alibaba's remote-code NewConfig that transformers' GteConfig does not write.
GTE_REMOTE_KEYS = (
    "auto_map",
    "pack_qkv",
    "layer_norm_type",
    "logn_attention_scale",
    "rope_theta",
    "position_embedding_type",
)
# What the hub's remote-code EuroBERT config has and transformers' own does not write.
EUROBERT_HUB_KEYS = ("auto_map", "clf_pooling", "rope_theta", "hidden_dropout")


@dataclass(frozen=True)
class NativeConfig:
    config: dict[str, Any]
    family: str | None  # the hub family read, None for a config transformers reads as is
    ignored: tuple[str, ...] = ()  # hub keys that cannot change the result, for the profile
    pooling: PoolingMode | None = None  # the pooling the hub config itself states
    notes: tuple[str, ...] = ()  # what bei runs in place of the remote code (fallbacks)


def hub_layout(config: Mapping[str, Any]) -> HubLayout | None:
    model_type = config.get("model_type")
    if model_type == "nomic_bert" and "n_embd" in config:
        return NOMIC_MOE if is_moe_config(config) else NOMIC
    if model_type == "new" or (
        model_type == "gte" and any(key in config for key in GTE_REMOTE_KEYS)
    ):
        return GTE  # arctic-embed-m-v2.0 says model_type gte with the NewModel remote config
    if model_type == "eurobert" and any(key in config for key in EUROBERT_HUB_KEYS):
        return EUROBERT
    if model_type == LLAMA_BIDIRECTIONAL_TYPE:
        return LLAMA_BIDIRECTIONAL
    return jina_layout(config)


def to_native(config: Mapping[str, Any]) -> NativeConfig:
    """The native config of a hub-layout checkpoint; other configs come back unchanged."""
    layout = hub_layout(config)
    if layout is None:
        return NativeConfig(dict(config), None)
    native: dict[str, Any] = {}
    found: list[Violation] = []
    ignored: list[str] = []
    for key, value in config.items():
        if key in COMMON_KEYS:
            native[key] = value
            continue
        handling = layout.keys.get(key)
        if handling is None:
            reason = f"{layout.family} key bei does not know; it may change the arithmetic"
            found.append(Violation(key, value, reason))
        elif isinstance(handling, Rename):
            native[handling.native] = value
        elif isinstance(handling, Pin):
            if not pinned_value_ok(value, handling.allowed):
                found.append(Violation(key, value, handling.reason))
        else:
            ignored.append(f"{key} ({handling.reason})")
    if found:
        raise_violations(found, config)
    native["model_type"] = layout.native_model_type
    architectures = [str(a) for a in config.get("architectures") or []]
    native["architectures"] = [layout.architectures.get(a, a) for a in architectures]
    layout.finish(config, native)
    notes = (layout.note,) if layout.note else ()
    return NativeConfig(native, layout.family, tuple(ignored), layout.pooling(config), notes)
