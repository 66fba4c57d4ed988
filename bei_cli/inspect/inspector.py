"""`inspect_checkpoint`: a checkpoint directory -> ModelProfile. Pure: reads files, no network,
no torch. Whatever it has to assume is recorded in `fallbacks` and logged once."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bei_cli.errors import UnsupportedModelError
from bei_cli.inspect.architectures import Architecture, resolve_architecture
from bei_cli.inspect.files import read_json_object, read_optional_object
from bei_cli.inspect.lengths import max_seq_len
from bei_cli.inspect.native import (
    check_config,
    family_name,
    honoured_settings,
    read_native_config,
)
from bei_cli.inspect.profile import DenseLayer, ModelProfile, PaddingSide, PoolingMode
from bei_cli.inspect.st_modules import Modules, Pooling, read_modules, read_prompts

log = logging.getLogger(__name__)

# config.json keys that hold the hidden size, by family naming (DistilBERT says `dim`).
HIDDEN_SIZE_KEYS = ("hidden_size", "dim", "d_model")
LABELED_TASKS = frozenset({"classify", "rerank", "ner"})
PADDING_SIDES: tuple[PaddingSide, ...] = ("left", "right")


def inspect_checkpoint(model_dir: Path, *, base_model: str) -> ModelProfile:
    """Decide task, attention, pooling, dims and limits from the checkpoint's own files.

    base_model is trt_llm.build.base_model ("encoder" or "encoder_bert"); encoder_bert runs
    causal families (Qwen, Llama, ...) bidirectionally.
    """
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise UnsupportedModelError(
            f"{model_dir} has no config.json.",
            hint="Inspect a transformers checkpoint directory (saved with save_pretrained).",
        )
    native = read_native_config(read_json_object(config_path))
    config = native.config
    arch = resolve_architecture(config, base_model=base_model)
    remote_code_note = check_config(native, arch)
    tokenizer_config = read_optional_object(model_dir / "tokenizer_config.json")
    seq_len = max_seq_len(
        config,
        arch.family,
        sbert_config=read_optional_object(model_dir / "sentence_bert_config.json"),
        tokenizer_config=tokenizer_config,
    )
    hidden_size = _hidden_size(config, config_path)
    notes: list[str] = [*seq_len.notes, *native.notes]
    if remote_code_note:
        notes.append(remote_code_note)
    modules = Modules()
    if arch.task == "embed":
        modules, pooling_note = _embedding_modules(model_dir, arch, native.pooling)
        notes += pooling_note
        _check_dense_chain(modules.dense, hidden_size)
    prompts = read_prompts(model_dir)
    for note in notes:
        log.warning("inspect %s: %s", model_dir, note)
    pooling = modules.pooling
    return ModelProfile(
        architecture=arch.name,
        model_type=arch.model_type,
        task="sparse_embed" if modules.splade else arch.task,
        attention=arch.attention,
        hidden_size=hidden_size,
        max_seq_len=seq_len.value,
        embedding_dim=_embedding_dim(modules, hidden_size, config, arch),
        pooling=pooling.mode if pooling else None,
        pooling_include_prompt=pooling.include_prompt if pooling else True,
        normalize=modules.normalize,
        dense=modules.dense,
        prompts=prompts.prompts,
        default_prompt_name=prompts.default_prompt_name,
        id2label=_id2label(config, arch, config_path),
        problem_type=config.get("problem_type"),
        padding_side=_padding_side(arch, tokenizer_config),
        checkpoint_dtype=_checkpoint_dtype(config),
        fallbacks=tuple(notes),
        family=family_name(native, arch),
        settings=honoured_settings(config),
        splade_pooling=modules.splade.pooling if modules.splade else None,
        splade_activation=modules.splade.activation if modules.splade else None,
    )


def _embedding_dim(
    modules: Modules, hidden_size: int, config: Mapping[str, Any], arch: Architecture
) -> int:
    """Pooled width: the last Dense's, the vocabulary for SPLADE, else the hidden size."""
    if modules.splade is None:
        return modules.dense[-1].out_features if modules.dense else hidden_size
    vocab_size = config.get("vocab_size")
    if not arch.name.endswith("ForMaskedLM") or not isinstance(vocab_size, int):
        raise UnsupportedModelError(
            f"a SparseEncoder (SpladePooling) checkpoint needs a *ForMaskedLM architecture with "
            f"a vocab_size; this one is {arch.name or '(none)'}.",
            hint="SPLADE pools the masked-LM head's logits: save the model with its MLM head.",
        )
    return vocab_size


def _embedding_modules(
    model_dir: Path, arch: Architecture, stated: PoolingMode | None
) -> tuple[Modules, list[str]]:
    """The sentence-transformers pipeline; without a Pooling module, the pooling config.json
    states (`stated`, e.g. llama_bidirec's `pooling: avg`), else the family's default."""
    modules = read_modules(model_dir)
    if modules is not None and (modules.pooling is not None or modules.splade is not None):
        _check_stated_pooling(modules, stated)
        return modules, []
    assumed = Pooling(mode=stated or arch.family.pooling)
    source = "config.json pooling" if stated else f"the {arch.model_type} default"
    if modules is None:
        note = (
            f"pooling: no sentence-transformers modules.json; assumed {assumed.mode} pooling "
            f"({source}), no Dense, no normalization"
        )
        return Modules(pooling=assumed), [note]
    note = f"pooling: modules.json has no Pooling module; assumed {assumed.mode} pooling ({source})"
    return Modules(pooling=assumed, normalize=modules.normalize, dense=modules.dense), [note]


def _check_stated_pooling(modules: Modules, stated: PoolingMode | None) -> None:
    """A checkpoint whose config.json and Pooling module disagree contradicts itself: vLLM pools
    as config.json says, sentence-transformers as the module says. Never pick one."""
    found = modules.pooling.mode if modules.pooling else "SPLADE"
    if stated is None or found == stated:
        return
    raise UnsupportedModelError(
        f"config.json pooling asks for {stated} pooling but the sentence-transformers pipeline "
        f"pools with {found}: the checkpoint contradicts itself.",
        param="config.json pooling",
        hint="Make config.json's pooling and 1_Pooling/config.json name the same pooling.",
    )


def _hidden_size(config: Mapping[str, Any], path: Path) -> int:
    for key in HIDDEN_SIZE_KEYS:
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    raise UnsupportedModelError(f"{path} has no hidden size ({' / '.join(HIDDEN_SIZE_KEYS)}).")


def _check_dense_chain(dense: tuple[DenseLayer, ...], hidden_size: int) -> None:
    width = hidden_size
    for layer in dense:
        if layer.in_features != width:
            raise UnsupportedModelError(
                f"Dense module {layer.path} expects {layer.in_features} inputs but gets {width}.",
                hint="The Dense modules' in_features must chain from the pooled hidden size.",
            )
        width = layer.out_features


def _id2label(
    config: Mapping[str, Any], arch: Architecture, path: Path
) -> tuple[tuple[int, str], ...]:
    if arch.task not in LABELED_TASKS:
        return ()  # transformers writes LABEL_0/LABEL_1 into every config; meaningless here
    raw = config.get("id2label")
    if not isinstance(raw, dict) or not raw:
        raise UnsupportedModelError(
            f"{arch.name} is a {arch.task} model but {path} has no id2label.",
            hint='Add the labels to config.json, e.g. "id2label": {"0": "negative", '
            '"1": "positive"} (one entry per output; a reranker has one).',
        )
    try:
        return tuple(sorted((int(i), str(label)) for i, label in raw.items()))
    except ValueError as exc:
        raise UnsupportedModelError(f"{path}: id2label keys must be integers: {exc}") from exc


def _padding_side(arch: Architecture, tokenizer_config: Mapping[str, Any]) -> PaddingSide:
    """The tokenizer's own padding_side when it declares one, else by attention."""
    declared = tokenizer_config.get("padding_side")
    for side in PADDING_SIDES:
        if declared == side:
            return side
    return arch.padding_side


def _checkpoint_dtype(config: dict[str, Any]) -> str | None:
    """transformers writes `torch_dtype` (<= 4.x) or `dtype` (5.x)."""
    value = config.get("dtype") or config.get("torch_dtype")
    return value if isinstance(value, str) else None
