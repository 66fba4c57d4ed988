"""config.json -> task, attention, padding and default pooling, through two tables.

FAMILIES is keyed by config.json `model_type` (how the backbone attends and pads); HEADS by the
suffix of `architectures[0]` (what the model is for). Adding a model family is one table row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from bei_cli.errors import UnsupportedModelError
from bei_cli.inspect.profile import Attention, PaddingSide, PoolingMode, Task

BASE_MODELS = ("encoder", "encoder_bert")


@dataclass(frozen=True)
class Family:
    attention: Attention  # how the backbone attends natively
    pooling: PoolingMode  # assumed (and recorded as a fallback) when there is no Pooling config
    # RoBERTa-style position ids start at pad_token_id + 1, which costs that many positions.
    position_offset: bool = False


ENCODER = Family(attention="bidirectional", pooling="cls")
ROBERTA_LIKE = Family(attention="bidirectional", pooling="cls", position_offset=True)
DECODER = Family(attention="causal", pooling="lasttoken")

FAMILIES: Mapping[str, Family] = MappingProxyType(
    {
        "bert": ENCODER,
        "distilbert": ENCODER,
        "albert": ENCODER,
        "electra": ENCODER,
        "deberta": ENCODER,
        "deberta-v2": ENCODER,
        "modernbert": ENCODER,
        "roberta": ROBERTA_LIKE,
        "xlm-roberta": ROBERTA_LIKE,
        "camembert": ROBERTA_LIKE,
        "mpnet": ROBERTA_LIKE,
        "llama": DECODER,
        "mistral": DECODER,
        "qwen2": DECODER,
        "qwen3": DECODER,
        "gemma": DECODER,
        "gemma2": DECODER,
        "gemma3_text": DECODER,
        # transformers >= 5.24 native classes; hub layouts are read through inspect.hub_layouts.
        "nomic_bert": Family(attention="bidirectional", pooling="mean"),
        "gte": ENCODER,
        "eurobert": Family(attention="bidirectional", pooling="mean"),
        # bei's own modules (engine.families.jina_bert / jina_code / nomic_moe); hub layouts:
        # jina_layout, nomic_moe_layout.
        "jina_bert": Family(attention="bidirectional", pooling="mean"),
        "jina_bert_qk_post_norm": Family(attention="bidirectional", pooling="mean"),
        "nomic_bert_moe": Family(attention="bidirectional", pooling="mean"),
    }
)

# The class-name prefix transformers gives each family's classes ("Bert" + "Model"): a config
# that names another class under auto_map (JinaBertForMaskedLM under model_type bert) is remote
# code, not the transformers class bei would load in its place.
CLASS_PREFIXES: Mapping[str, str] = MappingProxyType(
    {
        "bert": "Bert",
        "distilbert": "DistilBert",
        "albert": "Albert",
        "electra": "Electra",
        "deberta": "Deberta",
        "deberta-v2": "DebertaV2",
        "modernbert": "ModernBert",
        "roberta": "Roberta",
        "xlm-roberta": "XLMRoberta",
        "camembert": "Camembert",
        "mpnet": "MPNet",
        "llama": "Llama",
        "mistral": "Mistral",
        "qwen2": "Qwen2",
        "qwen3": "Qwen3",
        "gemma": "Gemma",
        "gemma2": "Gemma2",
        "gemma3_text": "Gemma3Text",
        "nomic_bert": "NomicBert",
        "gte": "Gte",
        "eurobert": "EuroBert",
    }
)


def _embed(num_labels: int | None) -> Task:
    return "embed"


def _classify_or_rerank(num_labels: int | None) -> Task:
    # A single-logit sequence classifier is a cross-encoder reranker.
    return "rerank" if num_labels == 1 else "classify"


def _ner(num_labels: int | None) -> Task:
    return "ner"


# (architecture suffix, task from num_labels); the first matching suffix wins.
HEADS: tuple[tuple[str, Callable[[int | None], Task]], ...] = (
    ("ForSequenceClassification", _classify_or_rerank),
    ("ForTokenClassification", _ner),
    ("ForMaskedLM", _embed),  # the encoder used as an embedder, LM head ignored
    ("ForCausalLM", _embed),  # the decoder used as an embedder, LM head ignored
    ("Model", _embed),
)

PADDING_BY_ATTENTION: Mapping[Attention, PaddingSide] = MappingProxyType(
    {"bidirectional": "right", "causal": "left"}  # left: the last token sits at the end
)


@dataclass(frozen=True)
class Architecture:
    name: str
    model_type: str
    family: Family
    task: Task
    attention: Attention
    padding_side: PaddingSide
    num_labels: int | None


def native_classes(model_type: str) -> frozenset[str]:
    """The transformers class names of `model_type` that bei serves (prefix + head suffix)."""
    prefix = CLASS_PREFIXES.get(model_type)
    if prefix is None:
        return frozenset()
    return frozenset(prefix + suffix for suffix, _ in HEADS)


def supported_architectures() -> str:
    return (
        f"model_type one of {', '.join(sorted(FAMILIES))}; architectures ending in "
        f"{', '.join(suffix for suffix, _ in HEADS)}"
    )


def resolve_architecture(config: Mapping[str, Any], *, base_model: str) -> Architecture:
    if base_model not in BASE_MODELS:
        raise ValueError(f"base_model must be one of {BASE_MODELS}, got {base_model!r}")
    architectures = config.get("architectures") or []
    name = str(architectures[0]) if architectures else ""
    model_type = str(config.get("model_type", ""))
    family = FAMILIES.get(model_type)
    head = next((rule for suffix, rule in HEADS if name.endswith(suffix)), None)
    if family is None or head is None:
        raise UnsupportedModelError(
            f"unsupported architecture {name or '(none)'} (model_type {model_type or '(none)'}).",
            hint=f"bei supports {supported_architectures()}.",
        )
    num_labels = _num_labels(config)
    attention = _attention(family, config, base_model=base_model)
    return Architecture(
        name=name,
        model_type=model_type,
        family=family,
        task=head(num_labels),
        attention=attention,
        padding_side=PADDING_BY_ATTENTION[attention],
        num_labels=num_labels,
    )


def _num_labels(config: Mapping[str, Any]) -> int | None:
    id2label = config.get("id2label")
    if isinstance(id2label, dict) and id2label:
        return len(id2label)
    value = config.get("num_labels")
    return int(value) if isinstance(value, int) else None


def _attention(family: Family, config: Mapping[str, Any], *, base_model: str) -> Attention:
    """Causal families run bidirectionally under encoder_bert, or when config.json says so
    (e.g. EmbeddingGemma's `use_bidirectional_attention`, gte-Qwen's `is_causal: false`)."""
    if family.attention == "bidirectional":
        return "bidirectional"
    says_bidirectional = (
        config.get("use_bidirectional_attention") is True or config.get("is_causal") is False
    )
    return "bidirectional" if base_model == "encoder_bert" or says_bidirectional else "causal"
