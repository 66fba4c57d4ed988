"""The config.json bei runs: hub layouts read into native configs, then refused where the
native class would compute something other than what the checkpoint asks for.

`read_native_config` maps a hub layout (Nomic, GTE, EuroBERT) onto transformers' native config
(`hub_layouts`); `check_config` applies the behaviour-key rules and the remote-code rule
(`guards`) to what is left. The settings that define the arithmetic are recorded in the profile,
so `bei inspect` shows what bei honours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bei_cli.inspect.architectures import Architecture, native_classes
from bei_cli.inspect.guards import check_behaviour_keys, check_remote_code
from bei_cli.inspect.hub_layouts import NativeConfig, to_native

# Model types transformers has no class for, run by bei's own modules (engine.families).
OWN_MODULES = frozenset({"jina_bert", "jina_bert_qk_post_norm", "nomic_bert_moe"})

# Native config keys that change the arithmetic, shown by `bei inspect` when present.
SETTING_KEYS = (
    "hidden_act",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "intermediate_size",
    "layer_norm_eps",
    "rms_norm_eps",
    "rope_parameters",
    "type_vocab_size",
    "position_embedding_type",
    "feed_forward_type",
    "classifier_pooling",
    "sliding_window",
    "is_causal",
    "use_bidirectional_attention",
    "num_experts",
    "moe_top_k",
    "moe_every_n_layers",
)


def read_native_config(config: Mapping[str, Any]) -> NativeConfig:
    """A hub layout as its native config (refusing unknown or unsupported hub keys)."""
    return to_native(config)


def check_config(native: NativeConfig, arch: Architecture) -> str | None:
    """Refuse settings the native class ignores; the note says when auto_map was set aside."""
    if native.family is None:
        check_behaviour_keys(native.config, arch.model_type)
    return check_remote_code(native.config, arch.name, native_classes(arch.model_type))


def family_name(native: NativeConfig, arch: Architecture) -> str:
    if native.family is not None and arch.model_type in OWN_MODULES:
        return f"{native.family}, hub layout run by bei's own {arch.model_type} module"
    if native.family is not None:
        return f"{native.family}, hub layout read as transformers {arch.model_type}"
    return arch.model_type


def honoured_settings(config: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((key, _text(config[key])) for key in SETTING_KEYS if key in config)


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)
