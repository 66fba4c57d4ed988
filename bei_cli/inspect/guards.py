"""Refusing config.json settings that would make a model silently wrong.

transformers reads a config.json into its own class and drops every key that class does not
know. A checkpoint whose behaviour lives in such a key -- ALiBi in `position_embedding_type`, a
GEGLU feed-forward in `feed_forward_type`, rotary settings on a family that has no rotary, a
remote-code class in `auto_map` -- would then load as a plain model and answer with wrong
vectors. Each rule here names one such key; a checkpoint that asks for behaviour bei does not
implement is refused (exit 4) with the field and its value, never approximated.

Pure: config dicts in, UnsupportedModelError out. Hub-published layouts that bei maps onto a
native class (Nomic, GTE, EuroBERT) are checked key by key in `hub_layouts` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from bei_cli.errors import UnsupportedModelError

# Families whose transformers class positions tokens with rotary embeddings (rope_* keys are
# read by transformers there); every other family in the table uses learned absolute positions.
ROTARY_FAMILIES = frozenset(
    {
        "llama",
        "mistral",
        "qwen2",
        "qwen3",
        "gemma",
        "gemma2",
        "gemma3_text",
        "modernbert",
        "nomic_bert",
        "gte",
        "eurobert",
    }
)

# Keys of flash-attn-era remote code (Nomic, Jina, ...) that no transformers class reads.
REMOTE_ROTARY_KEYS = (
    "rotary_emb_base",
    "rotary_emb_fraction",
    "rotary_emb_interleaved",
    "rotary_emb_scale_base",
    "rotary_emb_dim",
    "rotary_scaling_factor",
)
TRANSFORMERS_ROTARY_KEYS = ("rope_theta", "rope_scaling", "rope_parameters")
GATED_MLP_KEYS = ("feed_forward_type", "mlp_type", "ffn_type", "use_glu", "gated_mlp")
PLAIN_MLP_VALUES = frozenset({"original", "mlp", "none"})
ALIBI_KEYS = ("alibi", "use_alibi", "alibi_bias_max")
LORA_KEYS = ("lora_adaptations", "lora_rank")


@dataclass(frozen=True)
class Violation:
    field: str
    value: Any
    reason: str

    def describe(self) -> str:
        return f"config.json {self.field}: {self.value!r}: {self.reason}"


Rule = Callable[[Mapping[str, Any], str], list[Violation]]


def _position_embedding_type(config: Mapping[str, Any], model_type: str) -> list[Violation]:
    value = config.get("position_embedding_type")
    if value is None or value == "absolute":
        return []
    reason = (
        f"the transformers {model_type} class has learned absolute positions only; "
        f"{value} positions (e.g. ALiBi, rotary, relative keys) are not implemented for it"
    )
    return [Violation("position_embedding_type", value, reason)]


def _gated_mlp(config: Mapping[str, Any], model_type: str) -> list[Violation]:
    found = []
    for key in GATED_MLP_KEYS:
        value = config.get(key)
        if value in (None, False) or (isinstance(value, str) and value.lower() in PLAIN_MLP_VALUES):
            continue
        reason = (
            f"a gated feed-forward ({value}) is not what the transformers {model_type} class "
            "computes; its gate weights would be dropped or left random"
        )
        found.append(Violation(key, value, reason))
    return found


def _rotary(config: Mapping[str, Any], model_type: str) -> list[Violation]:
    found = [
        Violation(key, config[key], f"no transformers {model_type} class reads this rotary key")
        for key in REMOTE_ROTARY_KEYS
        if config.get(key) is not None
    ]
    if model_type not in ROTARY_FAMILIES:
        found += [
            Violation(key, config[key], f"{model_type} has no rotary positions to apply it to")
            for key in TRANSFORMERS_ROTARY_KEYS
            if config.get(key) is not None
        ]
    return found


def _alibi(config: Mapping[str, Any], model_type: str) -> list[Violation]:
    return [
        Violation(key, config[key], f"ALiBi attention is not implemented for {model_type}")
        for key in ALIBI_KEYS
        if config.get(key) not in (None, False)
    ]


def _lora_adapters(config: Mapping[str, Any], model_type: str) -> list[Violation]:
    """jina-embeddings-v3 ships one LoRA adapter per task on top of XLM-R; the adapter is picked
    per request by `task`. bei has no adapter selection, and the base weights alone are none of
    the tasks' models, so the checkpoint is refused rather than served adapter-less."""
    return [
        Violation(key, config[key], "per-task LoRA adapters are not implemented")
        for key in LORA_KEYS
        if config.get(key)
    ]


RULES: tuple[Rule, ...] = (_lora_adapters, _position_embedding_type, _gated_mlp, _rotary, _alibi)


def check_behaviour_keys(config: Mapping[str, Any], model_type: str) -> None:
    """Refuse a native-family config.json that asks for behaviour its transformers class lacks."""
    found = [violation for rule in RULES for violation in rule(config, model_type)]
    if found:
        raise_violations(found, config)


def check_remote_code(
    config: Mapping[str, Any], architecture: str, known_classes: frozenset[str]
) -> str | None:
    """`auto_map` names remote code bei never runs. Accepted only when the architecture is a
    class transformers itself ships (the remote code is then an older copy of it); the note
    returned says so. Otherwise refused: nothing native would stand behind the class."""
    auto_map = config.get("auto_map")
    if not auto_map:
        return None
    if architecture in known_classes:
        return f"config.json auto_map ignored: bei runs transformers' own {architecture}"
    raise UnsupportedModelError(
        f"config.json auto_map: {_first_target(auto_map)!r}: {architecture or '(no class)'} is "
        "remote code with no native implementation in bei or transformers; bei never runs a "
        "checkpoint's own Python code, and loading it as its base family would be wrong.",
        param="config.json auto_map",
        hint="Use a checkpoint of a family bei lists in docs/models.md, or a transformers-native "
        "export of this model.",
    )


def raise_violations(found: list[Violation], config: Mapping[str, Any]) -> NoReturn:
    first = found[0]
    name = (config.get("architectures") or ["(no architecture)"])[0]
    raise UnsupportedModelError(
        f"{name}: {first.describe()}; bei refuses to serve it rather than approximate it.",
        param=f"config.json {first.field}",
        hint="bei serves only what it computes exactly; see docs/models.md for the supported "
        "families and settings.",
        details=tuple(v.describe() for v in found[1:]),
    )


def _first_target(auto_map: Any) -> str:
    if isinstance(auto_map, dict) and auto_map:
        key = "AutoModel" if "AutoModel" in auto_map else next(iter(auto_map))
        return str(auto_map[key])
    return str(auto_map)
