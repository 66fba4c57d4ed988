"""Jina-BERT v2's hub layout (`jinaai/jina-bert-implementation` remote code under
`model_type: bert`) read as bei's own `jina_bert` module (engine.families.jina_bert)."""

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

JINA_REMOTE_CODE = "jinaai/jina-bert-implementation--"
JINA_ARCHITECTURES = {"JinaBertModel": "JinaBertModel", "JinaBertForMaskedLM": "JinaBertModel"}


def _jina_finish(hub: Mapping[str, Any], native: dict[str, Any]) -> None:
    """bei's own JinaBertModel (engine.families.jina_bert) stands behind the remote code, so
    auto_map is dropped; only the embedding classes are implemented."""
    others = [a for a in hub.get("architectures") or [] if a not in JINA_ARCHITECTURES]
    found = [
        Violation(key, None, "must be stated: the remote code's default is not what bei runs")
        for key in ("position_embedding_type", "feed_forward_type")
        if key not in hub
    ]
    if others:
        reason = "only JinaBertModel / JinaBertForMaskedLM (embedders) are implemented"
        found.append(Violation("architectures", others, reason))
    if found:
        raise_violations(found, hub)
    native.pop("auto_map", None)
    native["position_embedding_type"] = "alibi"
    native["feed_forward_type"] = hub["feed_forward_type"]


JINA_BERT = HubLayout(
    family="Jina-BERT v2",
    native_model_type="jina_bert",
    keys=MappingProxyType(
        {
            **same_names(
                "hidden_size",
                "num_hidden_layers",
                "num_attention_heads",
                "intermediate_size",
                "layer_norm_eps",
                "type_vocab_size",
                "max_position_embeddings",
                "model_max_length",
            ),
            "position_embedding_type": Pin(("alibi",), "JinaBertModel attends with ALiBi"),
            "feed_forward_type": Pin(("geglu", "reglu"), "JinaBertModel's MLP is GEGLU or ReGLU"),
            "hidden_act": Pin(("gelu",), "the gate's activation is feed_forward_type's"),
            "emb_pooler": Ignore("read by the remote code's encode() only"),
            "attn_implementation": Ignore(KERNEL_SWITCH),
            "hidden_dropout_prob": Ignore(INFERENCE_ONLY),
            "attention_probs_dropout_prob": Ignore(INFERENCE_ONLY),
            "gradient_checkpointing": Ignore(INFERENCE_ONLY),
        }
    ),
    architectures=JINA_ARCHITECTURES,
    finish=_jina_finish,
)
