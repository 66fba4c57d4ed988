"""Jina-BERT v2's hub layouts (remote code under `model_type: bert`) read as bei's own modules:
`jinaai/jina-bert-implementation` (jina-embeddings-v2-base-en / -small-en, jina-reranker-v1) as
`jina_bert`, `jinaai/jina-bert-v2-qk-post-norm` (jina-embeddings-v2-base-code) as
`jina_bert_qk_post_norm` (engine.families.jina_bert / jina_code)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from bei_cli.inspect.guards import Violation, raise_violations
from bei_cli.inspect.hub_keys import (
    INFERENCE_ONLY,
    KERNEL_SWITCH,
    Handling,
    HubLayout,
    Ignore,
    Pin,
    same_names,
)

JINA_REMOTE_CODE = "jinaai/jina-bert-implementation--"
JINA_CODE_REMOTE_CODE = "jinaai/jina-bert-v2-qk-post-norm--"
CLASSIFIER = "JinaBertForSequenceClassification"
EMBEDDERS = {"JinaBertModel": "JinaBertModel", "JinaBertForMaskedLM": "JinaBertModel"}
JINA_ARCHITECTURES = {**EMBEDDERS, CLASSIFIER: CLASSIFIER}


def _jina_finish(
    implemented: Mapping[str, str], what: str
) -> Callable[[Mapping[str, Any], dict[str, Any]], None]:
    """bei's own module stands behind the remote code, so auto_map is dropped; only the
    `implemented` classes are."""

    def finish(hub: Mapping[str, Any], native: dict[str, Any]) -> None:
        architectures = hub.get("architectures") or []
        others = [a for a in architectures if a not in implemented]
        found = [
            Violation(key, None, "must be stated: the remote code's default is not what bei runs")
            for key in ("position_embedding_type", "feed_forward_type")
            if key not in hub
        ]
        if others:
            found.append(Violation("architectures", others, f"only {what} are implemented"))
        if CLASSIFIER in architectures:
            found += _one_label(hub)
        if found:
            raise_violations(found, hub)
        native.pop("auto_map", None)
        native["position_embedding_type"] = "alibi"
        native["feed_forward_type"] = hub["feed_forward_type"]

    return finish


def _one_label(hub: Mapping[str, Any]) -> list[Violation]:
    """The reranker head is one logit. The remote code builds config.num_labels outputs
    (transformers' default: 2), so a config that does not say 1 is not the served model."""
    id2label, num_labels = hub.get("id2label"), hub.get("num_labels")
    if id2label is None and num_labels is None:
        reason = "must be stated: the remote code's default is 2 labels; bei serves 1 (a reranker)"
        return [Violation("num_labels", None, reason)]
    reason = "only the single-logit reranker head (jina-reranker-v1) is implemented"
    if id2label is not None and (not isinstance(id2label, dict) or len(id2label) != 1):
        return [Violation("id2label", id2label, reason)]
    if num_labels is not None and num_labels != 1:
        return [Violation("num_labels", num_labels, reason)]
    return []


def _keys(feed_forward: str) -> Mapping[str, Handling]:
    return MappingProxyType(
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
            "feed_forward_type": Pin(("geglu", "reglu"), feed_forward),
            "hidden_act": Pin(("gelu",), "the gate's activation is feed_forward_type's"),
            "emb_pooler": Ignore("read by the remote code's encode() only"),
            "attn_implementation": Ignore(KERNEL_SWITCH),
            "hidden_dropout_prob": Ignore(INFERENCE_ONLY),
            "attention_probs_dropout_prob": Ignore(INFERENCE_ONLY),
            "gradient_checkpointing": Ignore(INFERENCE_ONLY),
        }
    )


JINA_BERT = HubLayout(
    family="Jina-BERT v2",
    native_model_type="jina_bert",
    keys=_keys("JinaBertModel's MLP is GEGLU or ReGLU"),
    architectures=JINA_ARCHITECTURES,
    finish=_jina_finish(
        JINA_ARCHITECTURES,
        "JinaBertModel / JinaBertForMaskedLM (embedders) and JinaBertForSequenceClassification "
        "(the reranker)",
    ),
)

JINA_BERT_CODE = HubLayout(
    family="Jina-BERT v2 qk-post-norm (jina-embeddings-v2-base-code)",
    native_model_type="jina_bert_qk_post_norm",
    # The remote code's other feed-forward (feed_forward_type "original": up_layer, no gate)
    # is not implemented.
    keys=_keys("the qk-post-norm MLP is GEGLU or ReGLU (up_gated_layer)"),
    architectures=EMBEDDERS,
    finish=_jina_finish(EMBEDDERS, "JinaBertModel / JinaBertForMaskedLM (embedders)"),
)

LAYOUTS_BY_REMOTE_CODE = ((JINA_CODE_REMOTE_CODE, JINA_BERT_CODE), (JINA_REMOTE_CODE, JINA_BERT))


def jina_layout(config: Mapping[str, Any]) -> HubLayout | None:
    """The Jina layout a `model_type: bert` config's auto_map names, if any."""
    if config.get("model_type") != "bert":
        return None
    auto_map = json.dumps(config.get("auto_map"))
    named = [layout for code, layout in LAYOUTS_BY_REMOTE_CODE if code in auto_map]
    if len(named) > 1:
        reason = "names both Jina remote codes; which layout the weights follow is unknown"
        raise_violations([Violation("auto_map", config.get("auto_map"), reason)], config)
    return named[0] if named else None
