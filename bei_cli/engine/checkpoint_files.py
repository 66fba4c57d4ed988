"""Which checkpoint files serving needs, and copying them into an artifact.

Serving needs config.json, the tokenizer (always as a fast `tokenizer.json`), the
sentence-transformers module configs, the transformer weights and the Dense weights -- nothing
else (no READMEs, training args, ONNX exports or optimizer states). Weights always land as
safetensors: a torch pickle (`pytorch_model.bin`, sharded or not) is converted on the way, so
serving never unpickles anything.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from bei_cli.engine.families.native_config import write_native_config
from bei_cli.errors import BuildError, UnsupportedModelError
from bei_cli.inspect.files import CONFIG_FILES, TOKENIZER_FILES
from bei_cli.inspect.profile import ModelProfile

Progress = Callable[[str], None]

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_PICKLE = "pytorch_model.bin"
TORCH_PICKLE_INDEX = "pytorch_model.bin.index.json"


def human_size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def copy_file(src: Path, dst: Path, rel: str, report: Progress) -> None:
    """Copy src/rel to dst/rel (contents only: no timestamps or modes carried over)."""
    target = dst / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / rel, target)
    report(f"  {rel}  ({human_size(target.stat().st_size)})")


def convert_pickle(src: Path, dst: Path, report: Progress) -> None:
    """A torch pickle state dict rewritten as safetensors (weights_only: no code runs)."""
    import torch
    from safetensors.torch import save_file

    report(f"  converting {src.parent.name}/{src.name} -> {dst.name}")
    state = torch.load(src, map_location="cpu", weights_only=True)
    # safetensors refuses tensors that share storage (tied weights); give each its own copy.
    tensors = {name: tensor.detach().contiguous().clone() for name, tensor in state.items()}
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dst), metadata={"format": "pt"})


def shard_names(index_file: Path) -> list[str]:
    weight_map: dict[str, str] = json.loads(index_file.read_text())["weight_map"]
    return sorted(set(weight_map.values()))


def copy_sharded_pickles(src: Path, dst: Path, report: Progress) -> None:
    index = json.loads((src / TORCH_PICKLE_INDEX).read_text())
    renamed = {name: safetensors_name(name) for name in shard_names(src / TORCH_PICKLE_INDEX)}
    for old, new in renamed.items():
        convert_pickle(src / old, dst / new, report)
    index["weight_map"] = {key: renamed[shard] for key, shard in index["weight_map"].items()}
    (dst / SAFETENSORS_INDEX).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def safetensors_name(pickle_name: str) -> str:
    """pytorch_model-00001-of-00002.bin -> model-00001-of-00002.safetensors"""
    stem = pickle_name.removesuffix(".bin").replace("pytorch_model", "model", 1)
    return f"{stem}.safetensors"


def copy_weights(src: Path, dst: Path, report: Progress) -> None:
    """The transformer's weights, as safetensors; sharded checkpoints stay sharded."""
    if (src / SAFETENSORS).is_file():
        copy_file(src, dst, SAFETENSORS, report)
    elif (src / SAFETENSORS_INDEX).is_file():
        copy_file(src, dst, SAFETENSORS_INDEX, report)
        for shard in shard_names(src / SAFETENSORS_INDEX):
            copy_file(src, dst, shard, report)
    elif (src / TORCH_PICKLE).is_file():
        convert_pickle(src / TORCH_PICKLE, dst / SAFETENSORS, report)
    elif (src / TORCH_PICKLE_INDEX).is_file():
        copy_sharded_pickles(src, dst, report)
    else:
        raise UnsupportedModelError(
            f"{src} has no transformer weights ({SAFETENSORS} or {TORCH_PICKLE}, "
            "plain or sharded).",
            hint="Point checkpoint_repository at the model's root folder.",
        )


def module_dirs(src: Path) -> list[str]:
    """Folders of the sentence-transformers modules after the transformer (Pooling, Dense, ...)."""
    modules_file = src / "modules.json"
    if not modules_file.is_file():
        return []
    return sorted({m["path"] for m in json.loads(modules_file.read_text()) if m.get("path")})


def copy_modules(src: Path, dst: Path, profile: ModelProfile, report: Progress) -> None:
    for folder in module_dirs(src):
        for config in sorted((src / folder).glob("*.json")):
            copy_file(src, dst, f"{folder}/{config.name}", report)
    for layer in profile.dense:
        if (src / layer.path / SAFETENSORS).is_file():
            copy_file(src, dst, f"{layer.path}/{SAFETENSORS}", report)
        elif (src / layer.path / TORCH_PICKLE).is_file():
            convert_pickle(src / layer.path / TORCH_PICKLE, dst / layer.path / SAFETENSORS, report)
        else:
            raise UnsupportedModelError(
                f"Dense layer {layer.path} has no weights ({SAFETENSORS} or {TORCH_PICKLE}).",
                hint="Re-save the checkpoint with sentence-transformers.",
            )


def ensure_fast_tokenizer(dst: Path, report: Progress) -> None:
    """Serving tokenizes with `tokenizers`; convert a slow-only tokenizer once, here."""
    if (dst / "tokenizer.json").is_file():
        return
    report("  converting the tokenizer to tokenizer.json")
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(dst)
        tokenizer.backend_tokenizer.save(str(dst / "tokenizer.json"))
    except Exception as exc:
        raise BuildError(
            f"the checkpoint has no tokenizer.json and its tokenizer could not be converted: "
            f"{type(exc).__name__}: {exc}",
            hint="Save the tokenizer with a fast tokenizer (tokenizer.save_pretrained) first.",
        ) from exc


def copy_serving_files(src: Path, dst: Path, profile: ModelProfile, report: Progress) -> None:
    """Copy into dst exactly what the engine and the server's tokenizer read."""
    report(f"copying serving files from {src}")
    dst.mkdir(parents=True, exist_ok=True)
    if not (src / "config.json").is_file():
        raise UnsupportedModelError(
            f"{src} has no config.json.", hint="Point checkpoint_repository at the model root."
        )
    for name in (*CONFIG_FILES, *TOKENIZER_FILES):
        if (src / name).is_file():
            copy_file(src, dst, name, report)
    write_native_config(src, dst, report)
    copy_weights(src, dst, report)
    copy_modules(src, dst, profile, report)
    ensure_fast_tokenizer(dst, report)
