"""How a hub config.json key is read into a native config: the vocabulary of every hub layout.

A key is renamed (`Rename`), pinned to the values the native class computes (`Pin`), or known to
be an implementation switch that cannot change the result (`Ignore`); `HubLayout` is one family's
table. `same_names` is the shared BERT-style part of those tables: keys the native config keeps
under the same name. Pure data; the layouts live in `hub_layouts` and `jina_layout`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bei_cli.inspect.profile import PoolingMode

# Keys every transformers config may carry; passed through unchanged.
COMMON_KEYS = frozenset(
    {
        "architectures",
        "model_type",
        "_name_or_path",
        "transformers_version",
        "torch_dtype",
        "dtype",
        "id2label",
        "label2id",
        "num_labels",
        "problem_type",
        "pad_token_id",
        "bos_token_id",
        "eos_token_id",
        "sep_token_id",
        "tie_word_embeddings",
        "initializer_range",
        "vocab_size",
        "use_cache",
        "auto_map",  # the remote code bei replaces with the native class
        "classifier_dropout",
        "tokenizer_class",
    }
)


@dataclass(frozen=True)
class Rename:
    native: str


@dataclass(frozen=True)
class Pin:
    """The native class computes only these values; anything else is refused."""

    allowed: tuple[Any, ...]
    reason: str


@dataclass(frozen=True)
class Ignore:
    reason: str  # why the key cannot change the served result


Handling = Rename | Pin | Ignore


@dataclass(frozen=True)
class HubLayout:
    family: str  # display name, e.g. "NomicBERT"
    native_model_type: str
    keys: Mapping[str, Handling]
    architectures: Mapping[str, str] = field(default_factory=dict)  # hub class -> native class
    # Keys that turn into a native structure (rope parameters) or need defaults.
    finish: Callable[[Mapping[str, Any], dict[str, Any]], None] = lambda hub, native: None
    # The pooling the remote code itself applies, when its config states one (llama_bidirec's
    # `pooling: avg`): the sentence-transformers Pooling module must agree with it.
    pooling: Callable[[Mapping[str, Any]], PoolingMode | None] = lambda hub: None
    # What bei runs in place of the remote code, for the profile's fallbacks.
    note: str | None = None


INFERENCE_ONLY = "dropout and training switches do nothing at inference"
KERNEL_SWITCH = "selects a kernel, not the arithmetic"


def same_names(*keys: str) -> dict[str, Handling]:
    """Keys the native config keeps under the same name (hidden_size, num_hidden_layers, ...)."""
    return {key: Rename(key) for key in keys}


def pinned_value_ok(value: Any, allowed: tuple[Any, ...]) -> bool:
    """`value` is one of `allowed`; booleans and None match only themselves (False != 0)."""
    for candidate in allowed:
        if candidate is None or isinstance(candidate, bool) or isinstance(value, bool):
            if value is candidate:
                return True
        elif value is not None and value == candidate:
            return True
    return False
