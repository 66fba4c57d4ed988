"""`bei inspect CONFIG|DIR`: what bei learned from a checkpoint (the ModelProfile)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bei_cli import pipeline
from bei_cli.checkpoint import DEFAULT_SECRETS_DIR
from bei_cli.cli.fetch import announce
from bei_cli.cli.options import (
    AllowPickle,
    CacheDir,
    Offline,
    Quiet,
    SecretsDir,
    fetch_options,
)
from bei_cli.config.load import load_config
from bei_cli.inspect import ModelProfile, inspect_checkpoint

HELP = (
    "Show what bei reads from a checkpoint: task, attention, pooling, normalization, Dense "
    "layers, prompts, labels, limits, and every fallback it had to assume. Give a config.yaml "
    "(fetches the checkpoint first) or a local checkpoint directory."
)
EXAMPLE = (
    "Examples:  bei inspect examples/all-minilm-l6-v2/config.yaml   |   "
    "bei inspect ./my-model --base-model encoder --json"
)

DEFAULT_DIR_BASE_MODEL = "encoder_bert"
MAX_LABELS_SHOWN = 8

BaseModel = Annotated[
    Literal["encoder", "encoder_bert"] | None,
    typer.Option(
        "--base-model",
        help="trt_llm.build.base_model to inspect under: encoder_bert runs Qwen/Llama-style "
        "models bidirectionally. Default: the config's, or encoder_bert for a directory.",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the profile as JSON.")]


def _labels(p: ModelProfile) -> str:
    shown = [f"{i}: {label}" for i, label in p.id2label[:MAX_LABELS_SHOWN]]
    more = len(p.id2label) - MAX_LABELS_SHOWN
    return ", ".join(shown) + (f", ... ({len(p.id2label)} in all)" if more > 0 else "")


def _dense(p: ModelProfile) -> str:
    return "\n".join(
        f"{d.path}: {d.in_features} -> {d.out_features}, bias={d.bias}, "
        f"{d.activation.rsplit('.', 1)[-1]}"
        for d in p.dense
    )


def _pooling(p: ModelProfile) -> str:
    if p.splade_pooling is not None:
        return f"SPLADE {p.splade_pooling} over the MLM logits ({p.splade_activation})"
    if p.pooling is None:
        return "- (the model's head)"
    return p.pooling + ("" if p.pooling_include_prompt else " (prompt excluded)")


ROWS: tuple[tuple[str, Callable[[ModelProfile], object]], ...] = (
    ("architecture", lambda p: f"{p.architecture} ({p.model_type})"),
    ("family", lambda p: p.family),
    ("settings", lambda p: "\n".join(f"{key}: {value}" for key, value in p.settings)),
    ("task", lambda p: p.task),
    ("attention", lambda p: f"{p.attention}, padding {p.padding_side}"),
    ("hidden size", lambda p: p.hidden_size),
    ("embedding dim", lambda p: p.embedding_dim),
    ("max seq len", lambda p: p.max_seq_len),
    ("pooling", _pooling),
    ("normalize", lambda p: p.normalize),
    ("dense", _dense),
    ("prompts", lambda p: ", ".join(f"{name}={prompt!r}" for name, prompt in p.prompts)),
    ("default prompt", lambda p: p.default_prompt_name or ""),
    ("labels", _labels),
    ("problem type", lambda p: p.problem_type or ""),
    ("fallbacks", lambda p: "\n".join(p.fallbacks)),
)


def profile_rows(profile: ModelProfile) -> list[tuple[str, str]]:
    """The table's rows; empty values are left out."""
    rows = [(name, str(value(profile))) for name, value in ROWS]
    return [(name, value) for name, value in rows if value]


def is_checkpoint_dir(target: Path) -> bool:
    """A directory is a checkpoint unless it holds a config.yaml and no config.json."""
    if not target.is_dir():
        return False
    return (target / "config.json").is_file() or not (target / "config.yaml").is_file()


def command(
    target: Annotated[
        Path, typer.Argument(help="A config.yaml (or its folder), or a local checkpoint directory.")
    ],
    base_model: BaseModel = None,
    as_json: AsJson = False,
    cache_dir: CacheDir = None,
    secrets_dir: SecretsDir = DEFAULT_SECRETS_DIR,
    offline: Offline = False,
    allow_pickle: AllowPickle = False,
    quiet: Quiet = False,
) -> None:
    if is_checkpoint_dir(target):
        model_dir, chosen = target, base_model or DEFAULT_DIR_BASE_MODEL
    else:
        loaded = load_config(target)
        announce(loaded, quiet)
        options = fetch_options(secrets_dir, cache_dir, offline, allow_pickle, quiet)
        model_dir = pipeline.fetch(loaded, options)
        chosen = base_model or str(loaded.config.trt_llm.build.base_model)
    profile = inspect_checkpoint(model_dir, base_model=chosen)
    if as_json:
        typer.echo(json.dumps(profile.to_dict(), indent=2))
        return
    console = Console(highlight=False)
    console.print(f"{model_dir}  (base_model {chosen})", markup=False, soft_wrap=True)
    table = Table(show_header=False, box=None)
    for name, value in profile_rows(profile):
        style = "yellow" if name == "fallbacks" else ""
        table.add_row(Text(name, style="bold"), Text(value, style=style))
    console.print(table)
