"""Writing an engine artifact: select what serving needs, write it atomically, smoke-test it.

`build_artifact` copies the checkpoint's serving files into `<out>/model/` (weights always as
safetensors, in the checkpoint's own dtype -- the engine casts to the artifact's dtype at load, so
one lossless copy serves float32 and bfloat16 alike), writes manifest.json with the size and
sha256 of every file, loads the engine once and runs a smoke batch, and only then moves the
directory into place. Nothing half-written is ever left at `out_dir`.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from bei_cli.engine.artifact import (
    ENGINE_OPENERS,
    MODEL_DIR,
    ONNX_FILE,
    is_artifact,
    load_engine,
    record_files,
    write_manifest,
)
from bei_cli.engine.base import Batch, FloatArray, Output
from bei_cli.engine.checkpoint_files import Progress, copy_serving_files
from bei_cli.engine.manifest import Limits, Manifest, SourceRecord
from bei_cli.errors import BeiError, BuildError
from bei_cli.inspect.profile import ModelProfile

SMOKE_TEXTS = ("bei smoke test", "A second, somewhat longer sentence pads the first one.")


@dataclass(frozen=True)
class ArtifactSpec:
    """What to build, as plain values (decided by the pipeline's plan step)."""

    engine: str  # a key of artifact.ENGINE_OPENERS
    dtype: str  # "float32", "bfloat16", ...
    quantization: str  # "no_quant", ...
    limits: Mapping[str, Any]  # the fields of manifest.Limits
    default_route: str
    served_model_name: str
    source: Mapping[str, str | None]  # {"source", "repo", "revision"}; anything else is dropped
    device_kind: str = "cpu"
    api_key_secret: str | None = None  # a secret's name, never its value


def console_progress() -> Progress:
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    return lambda line: console.print(line, markup=False)


def write_onnx(model_dir: Path, profile: ModelProfile, report: Progress) -> None:
    from bei_cli.engine.onnx_export import write_onnx_model

    report("exporting the ONNX graph (export, fusion)")
    write_onnx_model(model_dir, profile, model_dir / ONNX_FILE)


# Engines whose artifact needs more than the checkpoint's own files (engine -> writer).
ENGINE_FILE_WRITERS: dict[str, Callable[[Path, ModelProfile, Progress], None]] = {
    "onnx": write_onnx
}


def write_engine_files(
    engine: str, model_dir: Path, profile: ModelProfile, report: Progress
) -> None:
    writer = ENGINE_FILE_WRITERS.get(engine)
    if writer is not None:
        writer(model_dir, profile, report)


def build_artifact(
    model_dir: Path,
    profile: ModelProfile,
    out_dir: Path,
    *,
    spec: ArtifactSpec,
    progress: Progress | None = None,
) -> Manifest:
    """Write the engine artifact for `model_dir` to `out_dir` (replacing an older artifact)."""
    report = progress or console_progress()
    if spec.engine not in ENGINE_OPENERS:
        raise BuildError(
            f"unknown engine {spec.engine!r}.",
            hint=f"Use one of: {', '.join(sorted(ENGINE_OPENERS))}.",
        )
    check_target(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        staging.chmod(0o755)
        copy_serving_files(model_dir, staging / MODEL_DIR, profile, report)
        write_engine_files(spec.engine, staging / MODEL_DIR, profile, report)
        report(f"hashing files of {staging.name}")
        manifest = Manifest(
            engine=spec.engine,
            dtype=spec.dtype,
            device_kind=spec.device_kind,
            quantization=spec.quantization,
            profile=profile,
            limits=limits_from(spec.limits),
            default_route=spec.default_route,
            served_model_name=spec.served_model_name,
            source=source_from(spec.source),
            files=record_files(staging),
            api_key_secret=spec.api_key_secret,
        )
        write_manifest(staging, manifest)
        smoke_test(staging, manifest, report)
        move_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report(f"wrote {out_dir}")
    return manifest


def check_target(out_dir: Path) -> None:
    """Refuse to replace anything but an earlier artifact or an empty directory."""
    if not out_dir.exists() or is_artifact(out_dir):
        return
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        return
    raise BuildError(
        f"{out_dir} exists and is not a bei engine artifact; refusing to overwrite it.",
        hint="Choose another output directory, or remove this one yourself.",
    )


def limits_from(values: Mapping[str, Any]) -> Limits:
    try:
        return Limits(**values)
    except TypeError as exc:
        raise BuildError(f"invalid artifact limits {dict(values)!r}: {exc}") from exc


def redact(repo: str) -> str:
    """Drop credentials a URL may carry (user:password@, presigned query strings)."""
    parts = urlsplit(repo)
    if not parts.scheme or not parts.netloc:
        return repo
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def source_from(values: Mapping[str, str | None]) -> SourceRecord:
    revision = values.get("revision")
    return SourceRecord(
        source=str(values.get("source", "")),
        repo=redact(str(values.get("repo", ""))),
        revision=None if revision is None else str(revision),
    )


def smoke_batch(model_dir: Path, max_seq_len: int) -> Batch:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    # Saved tokenizers often carry fixed padding/truncation (MiniLM's pads to 128); the engine
    # pads per batch itself, so both are switched off here, as the server must do too.
    tokenizer.no_padding()
    tokenizer.no_truncation()
    encodings = tokenizer.encode_batch(list(SMOKE_TEXTS))
    return Batch.from_sequences(
        [e.ids[:max_seq_len] for e in encodings], [e.type_ids[:max_seq_len] for e in encodings]
    )


def smoke_test(artifact_dir: Path, manifest: Manifest, report: Progress) -> None:
    """Load the engine from the staged artifact and run one small batch through it."""
    report(f"smoke test: loading the {manifest.engine} engine ({manifest.dtype})")
    try:
        engine, _ = load_engine(artifact_dir, device=manifest.device_kind, verify=False)
        output = engine.run(smoke_batch(artifact_dir / MODEL_DIR, manifest.limits.max_seq_len))
    except BeiError:
        raise
    except Exception as exc:
        raise BuildError(
            f"the built engine failed its smoke test: {type(exc).__name__}: {exc}",
            hint="The checkpoint may be incomplete or use an architecture this transformers "
            "version cannot load; try loading it with transformers directly to see why.",
        ) from exc
    rows = output_rows(output)
    if rows is None or len(rows) != len(SMOKE_TEXTS) or not all(np.isfinite(r).all() for r in rows):
        raise BuildError(
            "the built engine returned no, misshapen or non-finite outputs in its smoke test.",
            hint="Check the checkpoint's weights and dtype (float16 checkpoints can overflow).",
        )


def output_rows(output: Output) -> tuple[FloatArray, ...] | None:
    """One array per sequence, whichever task filled the Output (None if none did)."""
    if output.token_scores is not None:
        return output.token_scores
    dense = output.embeddings if output.embeddings is not None else output.scores
    return None if dense is None else tuple(dense)


def move_into_place(staging: Path, out_dir: Path) -> None:
    """Rename staging to out_dir; an existing artifact is moved aside first, then deleted."""
    old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
    if out_dir.exists():
        out_dir.rename(old)
    try:
        staging.rename(out_dir)
    except OSError:
        if old.exists():
            old.rename(out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
