"""`bei build` as a straight line of steps: validate -> fetch -> inspect -> plan -> build engine
(quantize, accuracy gate and, for `engine: auto` on a CPU, the measured engine choice inside)
-> package (the OCI image, when a base image is given).

Each step is a plain function of the previous step's value; the CLI can run any of them alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bei_cli.checkpoint import FetchOptions, fetch_with_options
from bei_cli.config.load import LoadedConfig
from bei_cli.config.options import BeiOptions
from bei_cli.config.schema import BeiConfig
from bei_cli.engine.build import ArtifactSpec, build_artifact
from bei_cli.engine.limits import Limits
from bei_cli.engine.manifest import Manifest
from bei_cli.engine.selection import Candidate
from bei_cli.engine.serving_claim import refuse_if_served
from bei_cli.errors import UnsupportedHardwareError, UnsupportedModelError
from bei_cli.hardware import host_has_native_bf16
from bei_cli.image.build import package_artifact
from bei_cli.image.bundle import resolved_config_yaml
from bei_cli.image.writer import ImageResult
from bei_cli.inspect import inspect_checkpoint
from bei_cli.inspect.profile import ModelProfile, Task
from bei_cli.quantize import Hardware, QuantPlan, plan_quantization
from bei_cli.quantize.plan import needs_bf16

# What `POST /` serves when the config does not say: the route of the model's task. Truss's own
# detection sends every *ForSequenceClassification to /predict, but a one-label classifier is a
# cross-encoder, which BEI serves (and its clients call) on /rerank.
DEFAULT_ROUTE_BY_TASK: dict[Task, str] = {
    "embed": "/v1/embeddings",
    "rerank": "/rerank",
    "classify": "/predict",
    "ner": "/predict_tokens",
    "sparse_embed": "/embed_sparse",
}

# The trt_llm.build.base_model values that may serve each task: BEI serves token classification
# (/predict_tokens) on BEI-Bert only.
BASE_MODELS_BY_TASK: dict[Task, frozenset[str]] = {
    "embed": frozenset({"encoder", "encoder_bert"}),
    "rerank": frozenset({"encoder", "encoder_bert"}),
    "classify": frozenset({"encoder", "encoder_bert"}),
    "ner": frozenset({"encoder_bert"}),
    "sparse_embed": frozenset({"encoder", "encoder_bert"}),
}


RESOLVED_CONFIG = "config.yaml"  # next to manifest.json; cli/deploy.py reads it by this name


@dataclass(frozen=True)
class BuildResult:
    artifact_dir: Path
    manifest: Manifest
    profile: ModelProfile


PRECISION_DTYPE: dict[str, str] = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def target_hardware(config: BeiConfig, *, cpu_bf16: bool = False) -> Hardware:
    """What the build is for: `resources.accelerator` (after any `--target`), else this CPU."""
    accelerator = config.resources.accelerator
    return Hardware.from_accelerator(accelerator.type if accelerator else None, cpu_bf16=cpu_bf16)


def plan_artifact(
    config: BeiConfig, profile: ModelProfile, *, cpu_bf16: bool = False
) -> ArtifactSpec:
    """Pure: decide engine candidates, dtype and serving limits from the config and the
    checkpoint, for the target the config names. `cpu_bf16`: the build machine's CPU has native
    bf16 (`host_has_native_bf16`; it matters for CPU targets only)."""
    build = config.trt_llm.build
    check_base_model(profile, str(build.base_model))
    plan = quantization_plan(config, profile, cpu_bf16=cpu_bf16)
    check_quantization(plan)
    options = config.bei
    target = target_hardware(config, cpu_bf16=cpu_bf16)
    if target.kind == "cuda":
        candidates = cuda_candidates(options, plan, target)
    else:
        candidates = engine_candidates(options, plan, profile, cpu_bf16=cpu_bf16)
    for candidate in candidates:
        check_engine(candidate.engine, candidate.dtype, profile)
    route = config.trt_llm.runtime.webserver_default_route or DEFAULT_ROUTE_BY_TASK[profile.task]
    max_seq_len = min(profile.max_seq_len, build.max_num_tokens)
    return ArtifactSpec(
        engine=candidates[0].engine,
        dtype=candidates[0].dtype,
        quantization=build.quantization_type,
        limits=Limits(
            max_num_tokens=build.max_num_tokens,
            max_batch_size=build.max_batch_size,
            max_seq_len=max_seq_len,
            max_client_batch_size=options.max_client_batch_size,
            max_concurrent_requests=options.max_concurrent_requests,
            auto_truncate=config.auto_truncate,
        ),
        default_route=route,
        served_model_name=config.served_model_name or profile.architecture,
        source=source_record(config),
        device_kind=target.kind,
        accelerator=target.name if target.kind == "cuda" else None,
        builder_gpus=build.num_builder_gpus,
        api_key_secret=options.api_key_secret,
        candidates=candidates if len(candidates) > 1 else (),
        # A GPU is not this machine: its candidates are fallbacks in order, never timed here.
        timed=target.kind == "cpu",
        accuracy_floor=options.accuracy_floor,
        quant_plan=plan,
        calib_size=build.quantization_config.calib_size,
        calib_max_seq_length=build.quantization_config.calib_max_seq_length,
    )


def cuda_candidates(
    options: BeiOptions, plan: QuantPlan, target: Hardware
) -> tuple[Candidate, ...]:
    """Pure: a GPU target's engine and dtypes in order: the plan's 16-bit precision by BEI's
    rules, then its fallback should the first fail the accuracy gate. `bei.dtype` pins one."""
    if options.engine == "onnx":
        raise UnsupportedHardwareError(
            f"the onnx engine runs on CPU only; the target is {target}.",
            param="bei.engine",
            hint="Leave bei.engine at auto (torch on a GPU), or build for a CPU with "
            "`bei build --target cpu`.",
        )
    engine = "torch" if options.engine == "auto" else options.engine
    if options.dtype != "auto":
        return (Candidate(engine, options.dtype),)
    return tuple(Candidate(engine, PRECISION_DTYPE[p]) for p in plan.compute)


def engine_candidates(
    options: BeiOptions,
    plan: QuantPlan,
    profile: ModelProfile,
    *,
    cpu_bf16: bool,
) -> tuple[Candidate, ...]:
    """Pure: the engines `bei build` builds for a CPU target, first the preferred one. More than
    one only for `engine: auto` with no_quant: the build times them and keeps the fastest."""
    if plan.engine == "onnxruntime":  # weights_int8: ONNX Runtime's int8 kernels
        check_plan_engine(plan, options.engine)
        dtype = "float32" if options.dtype == "auto" else options.dtype
        return (Candidate("onnx", dtype),)
    dtype = options.resolved_dtype(cpu_bf16=cpu_bf16)
    if options.engine == "onnx" and options.dtype == "auto":
        return (Candidate("onnx", "float32"),)  # ONNX Runtime runs fp32 graphs here
    if options.engine != "auto":
        return (Candidate(options.engine, dtype),)
    if plan.quantization != "no_quant":
        return (Candidate("torch", dtype),)
    dtypes = [options.dtype] if options.dtype != "auto" else ["float32"]
    if options.dtype == "auto" and cpu_bf16:
        dtypes.append("bfloat16")
    candidates = [Candidate("torch", d) for d in dtypes]
    if profile.task == "embed" and "float32" in dtypes:
        candidates.append(Candidate("onnx", "float32"))
    return tuple(candidates)


def quantization_plan(
    config: BeiConfig, profile: ModelProfile, *, cpu_bf16: bool = False
) -> QuantPlan:
    """Pure: what `quantization_type` means on the target (`resources.accelerator`, else CPU)."""
    build = config.trt_llm.build
    return plan_quantization(
        str(build.quantization_type),
        base_model=str(build.base_model),
        task=profile.task,
        hardware=target_hardware(config, cpu_bf16=cpu_bf16),
        checkpoint_needs_bf16=needs_bf16(profile.model_type, profile.checkpoint_dtype),
    )


def check_quantization(plan: QuantPlan) -> None:
    """Refuse a plan the target cannot run, or one this release cannot build yet (exit 4 both:
    the request is refused before any work, like other unsupported model/hardware choices)."""
    if plan.supported and plan.implemented:
        return
    verdict = "" if not plan.supported else "planned, but not implemented in this bei release: "
    raise UnsupportedHardwareError(
        f"quantization_type {plan.quantization}: {verdict}{plan.reason}",
        param="trt_llm.build.quantization_type",
        hint="Set trt_llm.build.quantization_type: no_quant to build a 16/32-bit engine.",
        details=plan.notes,
    )


def check_plan_engine(plan: QuantPlan, engine: str) -> None:
    """A plan that needs ONNX Runtime refuses an explicit other engine."""
    if engine in ("auto", "onnx"):
        return
    raise UnsupportedModelError(
        f"quantization_type {plan.quantization} builds an ONNX Runtime int8 engine on a CPU; "
        f"bei.engine {engine} cannot run it.",
        param="bei.engine",
        hint="Set `bei: {engine: onnx}` or leave bei.engine at auto.",
    )


def check_engine(engine: str, dtype: str, profile: ModelProfile) -> None:
    """The onnx engine of this release: float32 embedders (weights_int8 included)."""
    if engine == "onnx" and (dtype != "float32" or profile.task != "embed"):
        raise UnsupportedModelError(
            f"the onnx engine builds float32 embedding models; this is a {dtype} "
            f"{profile.task} model.",
            param="bei.engine",
            hint="Use `bei: {engine: torch}` for other tasks and dtypes.",
        )


def check_base_model(profile: ModelProfile, base_model: str) -> None:
    allowed = BASE_MODELS_BY_TASK[profile.task]
    if base_model in allowed:
        return
    raise UnsupportedModelError(
        f"{profile.architecture} is a {profile.task} model, which base_model {base_model} "
        "does not serve.",
        param="trt_llm.build.base_model",
        hint=f"Set trt_llm.build.base_model: {' or '.join(sorted(allowed))} (BEI serves "
        f"{profile.task} models there only).",
    )


def source_record(config: BeiConfig) -> dict[str, str | None]:
    """Where the checkpoint came from, for the manifest. Never includes secrets."""
    repo = config.trt_llm.build.checkpoint_repository
    return {"source": str(repo.source), "repo": repo.repo, "revision": repo.revision}


def default_output_dir(config: BeiConfig, root: Path = Path("build")) -> Path:
    name = config.model_name or Path(config.trt_llm.build.checkpoint_repository.repo).name
    return root / name


def fetch(loaded: LoadedConfig, options: FetchOptions) -> Path:
    return fetch_with_options(loaded.config.trt_llm.build.checkpoint_repository, options)


def inspect(loaded: LoadedConfig, model_dir: Path) -> ModelProfile:
    base_model = str(loaded.config.trt_llm.build.base_model)
    return inspect_checkpoint(model_dir, base_model=base_model)


def write_resolved_config(loaded: LoadedConfig, artifact_dir: Path) -> Path:
    """The validated config with defaults filled in (secret names, never values) next to the
    manifest: `bei deploy` renders from it, and the image carries the same bytes."""
    path = artifact_dir / RESOLVED_CONFIG
    path.write_bytes(resolved_config_yaml(loaded.config))
    return path


def package(
    loaded: LoadedConfig,
    artifact_dir: Path,
    base_ref: str,
    *,
    formats: Sequence[str],
    report: Callable[[str], None],
    source_date_epoch: str | None,
) -> ImageResult:
    """The image step: the artifact, bei's runtime and the config as layers on `base_ref`."""
    return package_artifact(
        artifact_dir,
        loaded.config,
        base_ref,
        formats=formats,
        report=report,
        source_date_epoch=source_date_epoch,
    )


def build(
    loaded: LoadedConfig,
    out_dir: Path,
    fetch_options: FetchOptions,
    *,
    before_build: Callable[[ArtifactSpec], None] | None = None,
) -> BuildResult:
    """The whole build: fetch, inspect, plan, write and smoke-test the engine artifact.
    `before_build` sees the plan before any engine work (the CLI refuses a base image that
    cannot run the planned engines there)."""
    refuse_if_served(out_dir)  # before minutes of work, not after
    model_dir = fetch(loaded, fetch_options)
    profile = inspect(loaded, model_dir)
    spec = plan_artifact(loaded.config, profile, cpu_bf16=host_has_native_bf16())
    if before_build is not None:
        before_build(spec)
    manifest = build_artifact(model_dir, profile, out_dir, spec=spec)
    write_resolved_config(loaded, out_dir)
    return BuildResult(artifact_dir=out_dir, manifest=manifest, profile=profile)
