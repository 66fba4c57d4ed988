"""`bei validate CONFIG`: check a config.yaml offline and say what bei will build from it.

Exit 0 with a short summary (or the normalized config with --json); an invalid config raises
ConfigError, which the CLI root prints with every problem's dotted path and exits 2.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bei_cli.cli.options import ConfigPath
from bei_cli.config.load import LoadedConfig, load_config
from bei_cli.config.schema import BeiConfig

HELP = (
    "Validate a Truss config.yaml offline (schema, cross-field rules, duplicate keys) and "
    "print what bei will build: model, checkpoint, token budget, quantization, route, GPU, "
    "warnings and the Truss keys bei ignores. Invalid configs exit with code 2."
)
EXAMPLE = (
    "Examples:  bei validate examples/all-minilm-l6-v2/config.yaml   |   "
    "bei validate config.yaml --json > normalized.json"
)

ENGINE_NAMES = {"encoder": "BEI", "encoder_bert": "BEI-Bert"}


def command(
    config: ConfigPath,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the normalized config as JSON (warnings to stderr)."),
    ] = False,
) -> None:
    loaded = load_config(config)
    if as_json:
        for warning in loaded.warnings:
            typer.echo(f"warning: {warning}", err=True)
        typer.echo(json.dumps(loaded.config.model_dump(mode="json"), indent=2))
        return
    typer.echo("\n".join(summary_lines(loaded)))


def summary_lines(loaded: LoadedConfig) -> list[str]:
    config = loaded.config
    build = config.trt_llm.build
    repo = build.checkpoint_repository
    accelerator = config.resources.accelerator
    route = config.trt_llm.runtime.webserver_default_route
    revision = f" @ {repo.revision}" if repo.revision else ""
    rows = {
        "model_name": config.model_name or "(not set)",
        "base_model": f"{build.base_model} ({ENGINE_NAMES.get(build.base_model, '?')})",
        "checkpoint": f"{repo.source} {repo.repo}{revision}",
        "max_num_tokens": str(build.max_num_tokens),
        "max_batch_size": str(build.max_batch_size),
        "quantization": build.quantization_type,
        "route": route or "auto (from the checkpoint's architecture)",
        "accelerator": f"{accelerator} per replica" if accelerator else "none (CPU)",
        "engine": engine_row(config),
        "auto_truncate": str(config.auto_truncate).lower(),
    }
    lines = [f"valid: {loaded.path}"]
    lines += [f"  {key + ':':<16} {value}" for key, value in rows.items()]
    if loaded.warnings:
        lines.append("warnings:")
        lines += [f"  - {warning}" for warning in loaded.warnings]
    if loaded.ignored:
        lines.append(f"ignored (valid Truss, unused by bei): {', '.join(loaded.ignored)}")
    return lines


def engine_row(config: BeiConfig) -> str:
    """What `bei validate` can say offline: the engine is settled by `bei build`, which reads the
    checkpoint (and, on a CPU, measures the candidates); `--dry-run` prints its plan."""
    options = config.bei
    dtype = "" if options.dtype == "auto" else f", dtype {options.dtype}"
    if options.engine != "auto":
        return f"{options.engine}{dtype}"
    gpu = config.resources.accelerator
    if gpu is not None:
        return f"auto: torch on {gpu.type} in BEI's dtype{dtype} (see `bei build --dry-run`)"
    return f"auto: the fastest accurate CPU engine, measured by `bei build`{dtype}"
