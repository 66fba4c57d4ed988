"""`bei cache ls|rm|prune`: look after the checkpoint cache of the S3, GCS, AZURE and REMOTE_URL
sources (HF checkpoints live in the Hugging Face cache and are managed with `hf cache`)."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from bei_cli.checkpoint.cache import default_cache_root
from bei_cli.checkpoint.cache_entries import (
    CacheEntry,
    list_entries,
    matching_entries,
    prunable_entries,
    remove_entry,
)

HELP = (
    "Manage bei's checkpoint cache (sources S3, GCS, AZURE, REMOTE_URL): list its entries, "
    "remove one or all of a source, prune entries unused for a while or left partial."
)
EXAMPLE = (
    "Examples:  bei cache ls   |   bei cache rm --source s3://models/minilm   |   "
    "bei cache prune --older-than 30 --partial"
)

CacheRoot = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="The cache directory (default: $BEI_CACHE_DIR, else $XDG_CACHE_HOME/bei, else "
        "~/.cache/bei).",
        show_default=False,
    ),
]

command = typer.Typer(
    name="cache", help=HELP, epilog=EXAMPLE, no_args_is_help=True, add_completion=False
)


def _root(cache_dir: Path | None) -> Path:
    # The CLI edge is where the process environment is read.
    return cache_dir or default_cache_root(dict(os.environ))


@command.command(
    "ls",
    help="List cache entries: source, size, files, state, last use.",
    epilog="Example:  bei cache ls --cache-dir /models/bei",
)
def list_command(cache_dir: CacheRoot = None) -> None:
    root = _root(cache_dir)
    entries = list_entries(root)
    if not entries:
        typer.echo(f"the cache {root} is empty")
        return
    rows = [("KEY", "KIND", "SOURCE", "SIZE", "FILES", "STATE", "LAST USED")]
    rows += [
        (
            e.key,
            e.kind,
            e.source,
            _size(e.size),
            str(e.files),
            "complete" if e.complete else "partial",
            datetime.fromtimestamp(e.last_used).strftime("%Y-%m-%d %H:%M"),
        )
        for e in entries
    ]
    # Plain aligned columns, never wrapped or cut: keys and URLs must stay copy-pasteable.
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    typer.echo(f"{len(entries)} entries, {_size(sum(e.size for e in entries))} in {root}")


@command.command(
    "rm",
    help="Remove the entry KEY (a unique prefix is enough) or every entry of --source.",
    epilog="Examples:  bei cache rm 3f2a9c   |   bei cache rm --source https://host/minilm.tar.gz",
)
def remove_command(
    key: Annotated[str | None, typer.Argument(help="Entry key, as `bei cache ls` shows.")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Remove every entry of this source (URL).")
    ] = None,
    cache_dir: CacheRoot = None,
) -> None:
    if (key is None) == (source is None):
        raise typer.BadParameter("give either KEY or --source (one of them).")
    root = _root(cache_dir)
    found = matching_entries(list_entries(root), key=key, source=source)
    if not found:
        raise typer.BadParameter(f"no cache entry matches {key or source!r} in {root}.")
    if key is not None and len({e.key for e in found}) > 1:
        raise typer.BadParameter(f"{key!r} matches {len(found)} entries; give more of the key.")
    _remove(root, found)


@command.command(
    "prune",
    help="Remove entries unused for DAYS days, and/or partial downloads.",
    epilog="Example:  bei cache prune --older-than 30 --partial",
)
def prune_command(
    older_than: Annotated[
        float | None,
        typer.Option("--older-than", help="Remove entries last used more than DAYS days ago."),
    ] = None,
    partial: Annotated[
        bool, typer.Option("--partial", help="Remove partial (interrupted) downloads.")
    ] = False,
    cache_dir: CacheRoot = None,
) -> None:
    if older_than is None and not partial:
        raise typer.BadParameter("say what to prune: --older-than DAYS and/or --partial.")
    root = _root(cache_dir)
    doomed = prunable_entries(
        list_entries(root), now=time.time(), older_than_days=older_than, partial=partial
    )
    _remove(root, doomed)


def _remove(root: Path, entries: list[CacheEntry]) -> None:
    freed = 0
    for e in entries:
        if remove_entry(root, e.key, e.path):
            freed += e.size
            typer.echo(f"removed {e.kind}/{e.key} ({e.source}, {_size(e.size)})")
        else:
            typer.echo(f"skipped {e.kind}/{e.key}: a fetch is writing it now")
    typer.echo(f"freed {_size(freed)}")


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
