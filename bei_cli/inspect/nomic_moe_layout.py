"""nomic-embed-text-v2-moe's hub layout (`model_type: nomic_bert` with `num_experts`, the
`nomic-ai/nomic-bert-2048` remote code) read as bei's own `nomic_bert_moe` module
(engine.families.nomic_moe).

The remote code's NomicBertModel with mixture-of-experts blocks: block i is a MoE block when
`i % moe_every_n_layers == 1` (the others keep a biased fc1 -> GELU -> fc2 MLP); a MoE block
routes each token through a bias-free `router.layer` (softmax in fp32, top `moe_top_k` experts,
weights used as given) into megablocks' packed experts (`experts.mlp.w1` / `w2`, one shared
`experts.bias`). Reconstructed from the public sources (contrastors' `layers/block.py` and
`models/encoder/modeling_nomic_bert.py`, megablocks' dMoE, vLLM's `bert_with_rope.py`); every
hub key is renamed, pinned or ignored, and what the module does not compute is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from bei_cli.inspect.guards import Violation, raise_violations
from bei_cli.inspect.hub_keys import INFERENCE_ONLY, KERNEL_SWITCH, HubLayout, Ignore, Pin, Rename

NOMIC_MOE_TYPE = "nomic_bert_moe"
EMBEDDERS = {"NomicBertModel": "NomicBertModel"}
GPT2_HEAD = "GPT-2 sequence-summary head, unused by NomicBertModel"


def is_moe_config(config: Mapping[str, Any]) -> bool:
    """A NomicBERT hub config that asks for experts (v1 / v1.5 have no `num_experts`)."""
    experts = config.get("num_experts")
    return experts is not None and experts not in (0, 1)


def _whole(value: Any) -> int | None:
    """value when it is a positive whole number (not a bool), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _moe_violations(hub: Mapping[str, Any]) -> list[Violation]:
    raw = {k: hub.get(k) for k in ("num_experts", "moe_top_k", "moe_every_n_layers")}
    experts, top_k, every = (_whole(v) for v in raw.values())
    found = []
    if experts is None:
        found.append(Violation("num_experts", raw["num_experts"], "must be a whole number"))
    if top_k is None or (experts is not None and top_k > experts):
        reason = "must be stated, from 1 to num_experts (the remote code's default is not read)"
        found.append(Violation("moe_top_k", raw["moe_top_k"], reason))
    if every is None or every < 2:
        reason = (
            "must be stated and >= 2: block i is a MoE block when i % moe_every_n_layers == 1, "
            "so 1 (the remote code's default) would make none"
        )
        found.append(Violation("moe_every_n_layers", raw["moe_every_n_layers"], reason))
    others = [a for a in hub.get("architectures") or [] if a not in EMBEDDERS]
    if others:
        found.append(Violation("architectures", others, "only NomicBertModel is implemented"))
    return found


def _finish(hub: Mapping[str, Any], native: dict[str, Any]) -> None:
    found = _moe_violations(hub)
    if found:
        raise_violations(found, hub)
    native.pop("auto_map", None)  # read here; serving never imports the checkpoint's code
    native["hidden_act"] = "gelu"  # exact (erf), what the remote code's F.gelu computes
    native["rope_parameters"] = {
        "rope_type": "default",
        "rope_theta": float(hub.get("rotary_emb_base", 10_000)),
    }
    if native.get("intermediate_size") is None:
        native["intermediate_size"] = 4 * int(native["hidden_size"])  # the remote code's default


NOMIC_MOE = HubLayout(
    family="NomicBERT mixture-of-experts (nomic-embed-text-v2-moe)",
    native_model_type=NOMIC_MOE_TYPE,
    architectures=EMBEDDERS,
    keys=MappingProxyType(
        {
            "n_embd": Rename("hidden_size"),
            "n_layer": Rename("num_hidden_layers"),
            "n_head": Rename("num_attention_heads"),
            "n_inner": Rename("intermediate_size"),
            "n_positions": Rename("max_position_embeddings"),
            "layer_norm_epsilon": Rename("layer_norm_eps"),
            "type_vocab_size": Rename("type_vocab_size"),
            "num_experts": Rename("num_experts"),
            "moe_top_k": Rename("moe_top_k"),
            "moe_every_n_layers": Rename("moe_every_n_layers"),
            "activation_function": Pin(("gelu",), "the experts and dense MLPs are GELU fc1/fc2"),
            "moe_impl": Pin(("megablocks",), "the experts are read in megablocks' packed w1/w2"),
            "moe_normalize_expert_weights": Pin(
                (False, None), "the top-k routing weights are used unrenormalised"
            ),
            "expert_choice_router": Pin((False,), "only token-choice top-k routing is implemented"),
            "num_shared_experts": Pin((0,), "shared (always-on) experts are not implemented"),
            "ffn_div": Pin((1,), "each expert is n_inner wide (no fine-grained segmentation)"),
            "router_aux_loss_coef": Ignore("load-balancing loss weight, training only"),
            "moe_resid_pdrop": Ignore(INFERENCE_ONLY),
            "rotary_emb_base": Ignore("read into rope_parameters.rope_theta"),
            "rotary_emb_fraction": Pin((1.0, 1), "the rotary covers the whole head"),
            "rotary_emb_interleaved": Pin((False,), "the rotary rotates halves"),
            "rotary_emb_scale_base": Pin((None,), "xPos scaling is not implemented"),
            "rotary_scaling_factor": Pin((None,), "dynamic NTK scaling is not implemented"),
            "max_trained_positions": Ignore("only read with rotary_scaling_factor"),
            "causal": Pin((False,), "NomicBERT is served bidirectionally"),
            "prenorm": Pin((False,), "the blocks are post-norm"),
            "parallel_block": Pin((False,), "each block runs attention then MLP"),
            "parallel_block_tied_norm": Pin((False,), "each block runs attention then MLP"),
            "use_rms_norm": Pin((False, None), "the blocks use LayerNorm"),
            "qkv_proj_bias": Pin((True,), "Wqkv and out_proj carry biases"),
            "mlp_fc1_bias": Pin((True,), "the dense MLPs' fc1 carries a bias"),
            "mlp_fc2_bias": Pin((True,), "the dense MLPs' fc2 carries a bias"),
            "scale_attn_weights": Pin((True,), "attention is scaled by 1/sqrt(head_dim)"),
            "scale_attn_by_inverse_layer_idx": Pin((False,), "no per-layer attention scaling"),
            "add_pooling_layer": Ignore("the BERT pooler, never read (pooling is the ST module)"),
            "attn_pdrop": Ignore(INFERENCE_ONLY),
            "embd_pdrop": Ignore(INFERENCE_ONLY),
            "resid_pdrop": Ignore(INFERENCE_ONLY),
            "summary_first_dropout": Ignore(INFERENCE_ONLY),
            "summary_activation": Ignore(GPT2_HEAD),
            "summary_proj_to_labels": Ignore(GPT2_HEAD),
            "summary_type": Ignore(GPT2_HEAD),
            "summary_use_proj": Ignore(GPT2_HEAD),
            "dense_seq_output": Ignore("pretraining MLM-loss switch"),
            "use_xentropy": Ignore("pretraining loss kernel"),
            "reorder_and_upcast_attn": Ignore("GPT-2 training precision switch"),
            "pad_vocab_size_multiple": Ignore("vocab_size already holds the padded size"),
            "fused_bias_fc": Ignore(KERNEL_SWITCH),
            "fused_dropout_add_ln": Ignore(KERNEL_SWITCH),
            "use_flash_attn": Ignore(KERNEL_SWITCH),
        }
    ),
    finish=_finish,
    note="config.json auto_map ignored: bei runs its own nomic_bert_moe module",
)
