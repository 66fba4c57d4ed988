"""Writing an engine artifact: select what serving needs, write it atomically, test and gate it.

`build_artifact` copies the checkpoint's serving files into `<out>/model/` (weights always as
safetensors, in the checkpoint's own dtype -- the engine casts to the artifact's dtype at load, so
one lossless copy serves float32 and bfloat16 alike), writes the engine's own files (an ONNX
graph), applies the quantizer of `spec.quantization`, writes manifest.json with the size and
sha256 of every file, loads the engine once and runs a smoke batch, and only then moves the
directory into place. Nothing half-written is ever left at `out_dir`.

Every engine that is not the fp32 torch reference (bf16, int8, fp8, ...) passes the accuracy gate
(bei_cli.quantize.gate) against fp32 torch on the same checkpoint before it is moved into place;
its verdict lands in the manifest. With several candidates (`bei: {engine: auto}` on a CPU) each
is built, gated and timed, the fastest accurate one is kept, and the figures go to
build_report.json beside the manifest -- never into the manifest, whose bytes must not depend on
timings.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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
from bei_cli.engine.base import Batch, Engine
from bei_cli.engine.checkpoint_files import Progress, copy_serving_files
from bei_cli.engine.manifest import AccuracyRecord, Manifest, SourceRecord
from bei_cli.engine.placement import cuda_available
from bei_cli.engine.quantizers import as_the_target_computes, quantize
from bei_cli.engine.selection import (
    REPORT_NAME,
    Candidate,
    Gate,
    Measurement,
    choose,
    interleaved_tokens_per_second,
    output_rows,
    selection_report,
    tokenized_texts,
)
from bei_cli.engine.serving_claim import refuse_if_served
from bei_cli.engine.spec import ArtifactSpec
from bei_cli.errors import BeiError, BuildError
from bei_cli.inspect.profile import ModelProfile
from bei_cli.quantize.gate import (
    FLOOR_HINT,
    AccuracyResult,
    default_floor,
    require_floor,
)

__all__ = ["ArtifactSpec", "build_artifact", "output_rows"]  # ArtifactSpec: engine/spec.py

SMOKE_TEXTS = ("bei smoke test", "A second, somewhat longer sentence pads the first one.")
REFERENCE = Candidate("torch", "float32")
UNGATED_ENGINES = frozenset({"fake"})  # no weights: nothing to compare with fp32


def console_progress() -> Progress:
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    return lambda line: console.print(line, markup=False)


def write_onnx(model_dir: Path, profile: ModelProfile, report: Progress) -> None:
    from bei_cli.engine.onnx_export import write_onnx_model

    report("exporting the ONNX graph (export, fusion)")
    write_onnx_model(model_dir, profile, model_dir / ONNX_FILE)
    # The graph holds every weight (transformer, pooling, Dense layers), so the checkpoint's own
    # weight files would only double the artifact and the image layer. The accuracy gate's fp32
    # reference has already run on them (Gate.prepare comes before the engine's writer).
    dropped = [p for p in sorted(model_dir.rglob("*.safetensors*")) if p.is_file()]
    for path in dropped:
        path.unlink()
    report(f"dropped {len(dropped)} weight files the ONNX graph replaces")


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


@dataclass(frozen=True)
class Staged:
    staging: Path
    manifest: Manifest
    spec: ArtifactSpec
    accuracy: AccuracyResult | None  # None: not gated (the fp32 torch reference)
    engine: Engine  # kept open: candidates are timed against each other after staging
    device: str = "cpu"

    @property
    def candidate(self) -> Candidate:
        return Candidate(self.spec.engine, self.spec.dtype)


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
    choices = spec.choices()
    unknown = sorted({c.engine for c in choices} - ENGINE_OPENERS.keys())
    if unknown:
        raise BuildError(
            f"unknown engine {unknown[0]!r}.",
            hint=f"Use one of: {', '.join(sorted(ENGINE_OPENERS))}.",
        )
    check_target(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    gate = Gate(task=profile.task, max_seq_len=spec.limits.max_seq_len)
    device = build_device(spec.device_kind)
    report(builder_note(spec, device))
    stagings: list[Path] = []
    timed = spec.timed and len(choices) > 1
    try:
        staged = []
        for choice in choices:
            stagings.append(Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent)))
            candidate = dataclasses.replace(spec, engine=choice.engine, dtype=choice.dtype)
            fallback = not timed and choice != choices[-1]
            try:
                staged.append(
                    stage(
                        model_dir, profile, stagings[-1], candidate, gate, timed or fallback, report
                    )
                )
            except BeiError as exc:  # e.g. float16 overflowing to inf in the smoke test
                if not fallback:
                    raise
                report(f"{choice} failed: {exc.message}; trying the next candidate")
                continue
            if not timed and (staged[-1].accuracy is None or staged[-1].accuracy.passed):
                break
            if fallback:
                report(f"{choice} failed its accuracy gate; trying the next candidate")
        # Not timed: the last staged candidate passed its gate (a failing last one raised).
        winner = select(staged, gate.batches, report) if timed else staged[-1]
        move_into_place(winner.staging, out_dir)
    finally:
        for staging in stagings:
            shutil.rmtree(staging, ignore_errors=True)
    report(f"wrote {out_dir}")
    return winner.manifest


def builder_note(spec: ArtifactSpec, device: str) -> str:
    """What the build machine does for this target, and what num_builder_gpus meant here."""
    target = spec.accelerator or "this CPU"
    if spec.device_kind == "cuda" and device == "cpu":
        note = (
            f"building for {target} on a machine without a GPU: the smoke test and the accuracy "
            "gate emulate the target's arithmetic on the CPU"
        )
        if spec.builder_gpus is not None:
            note += f" (num_builder_gpus {spec.builder_gpus} ignored: no GPU here)"
        return note
    used = "1 GPU" if device == "cuda" else "the CPU"
    asked = "" if spec.builder_gpus is None else f"; num_builder_gpus {spec.builder_gpus}"
    return f"building for {target} on {used}{asked}"


def build_device(device_kind: str) -> str:
    """Where the build runs an engine: a cuda artifact on this machine's GPU if it has one, else
    on the CPU, which then stands in for the GPU's arithmetic (same dtype, CPU kernels)."""
    if device_kind != "cuda":
        return "cpu"
    return "cuda" if cuda_available() else "cpu"


def describe(spec: ArtifactSpec) -> str:
    """ "torch float32" or "torch float32 fp8": what a gate line is about."""
    quantization = "" if spec.quantization == "no_quant" else f" {spec.quantization}"
    return f"{spec.engine} {spec.dtype}{quantization}"


def is_gated(spec: ArtifactSpec, timed: bool) -> bool:
    """Everything but the fp32 torch reference is judged; an fp32 engine of another runtime only
    when timed against the reference (an engine chosen for speed must be shown accurate too)."""
    if spec.engine in UNGATED_ENGINES:
        return False
    if spec.quantization != "no_quant" or spec.dtype != "float32":
        return True
    return timed and Candidate(spec.engine, spec.dtype) != REFERENCE


def stage(
    model_dir: Path,
    profile: ModelProfile,
    staging: Path,
    spec: ArtifactSpec,
    gate: Gate,
    timed: bool,
    report: Progress,
) -> Staged:
    """Build one candidate into `staging`: files, manifest, smoke test, gate (timed later)."""
    staging.chmod(0o755)
    device = build_device(spec.device_kind)
    gated = is_gated(spec, timed)
    copy_serving_files(model_dir, staging / MODEL_DIR, profile, report)
    if gated or timed:
        gate.prepare(staging / MODEL_DIR, profile, report)
    write_engine_files(spec.engine, staging / MODEL_DIR, profile, report)
    quantize(staging / MODEL_DIR, profile, spec, report)
    report(f"hashing files of {staging.name}")
    manifest = Manifest(
        engine=spec.engine,
        dtype=spec.dtype,
        device_kind=spec.device_kind,
        quantization=spec.quantization,
        profile=profile,
        limits=spec.limits,
        default_route=spec.default_route,
        served_model_name=spec.served_model_name,
        source=source_from(spec.source),
        files=record_files(staging),
        api_key_secret=spec.api_key_secret,
        accelerator=spec.accelerator,
    )
    write_manifest(staging, manifest)
    engine = smoke_test(staging, manifest, report, device=device)
    accuracy = None
    if gated:
        floor = spec.accuracy_floor
        if floor is None:
            floor = default_floor(spec.dtype, spec.quantization)
        judged = as_the_target_computes(engine, staging / MODEL_DIR, spec, report)
        accuracy = gate.judge(judged, floor)
        arithmetic = gate_arithmetic(spec, device)
        report(f"accuracy gate, {arithmetic}: {accuracy.describe()}")
        if not timed:
            require_floor(accuracy, f"{spec.engine} {spec.dtype} {spec.quantization}")
        record = dataclasses.replace(accuracy_record(accuracy), arithmetic=arithmetic)
        manifest = dataclasses.replace(manifest, accuracy=record)
        write_manifest(staging, manifest)
    return Staged(staging, manifest, spec, accuracy, engine, device)


def gate_arithmetic(spec: ArtifactSpec, device: str) -> str:
    """What the gate ran, for the manifest: the target's arithmetic, and where it ran."""
    plan = spec.quant_plan
    gemms = ""
    if plan is not None and plan.activations in ("fp8", "fp4") and spec.device_kind == "cuda":
        gemms = f", {plan.activations.upper()} GEMMs"
    what = f"{spec.engine} {spec.dtype}{gemms}"
    if spec.device_kind == "cuda" and device == "cpu":
        target = spec.accelerator or "the GPU"
        return f"{what} emulated for {target} on the build machine's CPU (torch CPU kernels)"
    return f"{what} on the build machine's {device.upper() if device == 'cpu' else 'GPU'}"


def select(staged: Sequence[Staged], batches: Sequence[Batch], report: Progress) -> Staged:
    """Keep the fastest candidate that passed its gate; record every figure in build_report.json."""
    report(f"timing {len(staged)} engine candidates, interleaved, on the held-out workload")
    speeds = interleaved_tokens_per_second([s.engine for s in staged], batches)
    measurements = [
        Measurement(s.candidate, speed, s.accuracy) for s, speed in zip(staged, speeds, strict=True)
    ]
    for measurement in measurements:
        report(f"candidate {measurement.describe()}")
    if not any(m.passed for m in measurements):
        raise BuildError(
            "no engine candidate passed the accuracy gate: "
            + "; ".join(m.describe() for m in measurements),
            hint=FLOOR_HINT,
        )
    chosen = choose(measurements)
    winner = staged[measurements.index(chosen)]
    report(f"chose the {chosen.candidate} engine ({chosen.tokens_per_s:,.0f} tokens/s)")
    record = selection_report(measurements, chosen, batches)
    (winner.staging / REPORT_NAME).write_text(
        json.dumps(record, sort_keys=True, indent=2) + "\n", encoding="utf-8"
    )
    return winner


def accuracy_record(result: AccuracyResult) -> AccuracyRecord:
    return AccuracyRecord(
        metric=result.metric,
        value=result.value,
        floor=result.floor,
        texts=result.texts,
        reference=result.reference,
        extra=dict(result.extra),
    )


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
    return Batch.from_sequences(tokenized_texts(model_dir, SMOKE_TEXTS, max_seq_len))


def smoke_test(
    artifact_dir: Path, manifest: Manifest, report: Progress, *, device: str = "cpu"
) -> Engine:
    """Load the engine from the staged artifact and run one small batch through it, on `device`
    in the artifact's own dtype (a cuda artifact built on a CPU: the CPU stands in)."""
    report(f"smoke test: loading the {manifest.engine} engine ({manifest.dtype}, {device})")
    try:
        engine, _ = load_engine(artifact_dir, device=device, verify=False, dtype=manifest.dtype)
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
    return engine


def move_into_place(staging: Path, out_dir: Path) -> None:
    """Rename staging to out_dir; an existing artifact is moved aside first, then deleted."""
    old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
    refuse_if_served(out_dir)  # again: a server may have started during the build
    if out_dir.exists():
        out_dir.rename(old)
    try:
        staging.rename(out_dir)
    except OSError:
        if old.exists():
            old.rename(out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
