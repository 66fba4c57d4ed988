"""`bei build` as a straight line of steps: validate -> fetch -> inspect -> plan -> build engine.

Each step is a plain function of the previous step's value; the CLI can run any of them alone.
The image step (OCI layers) is not built yet and says so; it comes with the packaging issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bei_cli.checkpoint import FetchOptions, fetch_with_options
from bei_cli.config.accelerators import COMPUTE_CAPABILITY
from bei_cli.config.load import LoadedConfig
from bei_cli.config.schema import BeiConfig
from bei_cli.engine.build import ArtifactSpec, build_artifact
from bei_cli.engine.manifest import Manifest
from bei_cli.errors import UnsupportedHardwareError, UnsupportedModelError
from bei_cli.inspect import inspect_checkpoint
from bei_cli.inspect.profile import ModelProfile, Task
from bei_cli.quantize import Hardware, QuantPlan, plan_quantization

# What `POST /` serves when the config does not say: the route of the model's task. Truss's own
# detection sends every *ForSequenceClassification to /predict, but a one-label classifier is a
# cross-encoder, which BEI serves (and its clients call) on /rerank.
DEFAULT_ROUTE_BY_TASK: dict[Task, str] = {
    "embed": "/v1/embeddings",
    "rerank": "/rerank",
    "classify": "/predict",
    "ner": "/predict_tokens",
}

# The trt_llm.build.base_model values that may serve each task: BEI serves token classification
# (/predict_tokens) on BEI-Bert only.
BASE_MODELS_BY_TASK: dict[Task, frozenset[str]] = {
    "embed": frozenset({"encoder", "encoder_bert"}),
    "rerank": frozenset({"encoder", "encoder_bert"}),
    "classify": frozenset({"encoder", "encoder_bert"}),
    "ner": frozenset({"encoder_bert"}),
}


@dataclass(frozen=True)
class BuildResult:
    artifact_dir: Path
    manifest: Manifest
    profile: ModelProfile


def plan_artifact(config: BeiConfig, profile: ModelProfile) -> ArtifactSpec:
    """Pure: decide engine, dtype and serving limits from the config and the checkpoint."""
    build = config.trt_llm.build
    check_base_model(profile, str(build.base_model))
    check_quantization(quantization_plan(config, profile))
    options = config.bei
    check_engine(options.resolved_engine, options.resolved_dtype(on_gpu=False), profile)
    route = config.trt_llm.runtime.webserver_default_route or DEFAULT_ROUTE_BY_TASK[profile.task]
    max_seq_len = min(profile.max_seq_len, build.max_num_tokens)
    return ArtifactSpec(
        engine=options.resolved_engine,
        # This release builds for the CPU it runs on; GPU targets come with the quantize step.
        dtype=options.resolved_dtype(on_gpu=False),
        quantization=build.quantization_type,
        limits={
            "max_num_tokens": build.max_num_tokens,
            "max_batch_size": build.max_batch_size,
            "max_seq_len": max_seq_len,
            "max_client_batch_size": options.max_client_batch_size,
            "max_concurrent_requests": options.max_concurrent_requests,
            "auto_truncate": config.auto_truncate,
        },
        default_route=route,
        served_model_name=config.served_model_name or profile.architecture,
        source=source_record(config),
        api_key_secret=options.api_key_secret,
    )


def quantization_plan(config: BeiConfig, profile: ModelProfile) -> QuantPlan:
    """Pure: what `quantization_type` means on the target (`resources.accelerator`, else CPU)."""
    build = config.trt_llm.build
    accelerator = config.resources.accelerator
    hardware = Hardware.from_accelerator(
        accelerator.type if accelerator else None, COMPUTE_CAPABILITY
    )
    return plan_quantization(
        str(build.quantization_type),
        base_model=str(build.base_model),
        task=profile.task,
        hardware=hardware,
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


def check_engine(engine: str, dtype: str, profile: ModelProfile) -> None:
    """The onnx engine of this release: float32 embedders only."""
    if engine == "onnx" and (dtype != "float32" or profile.task != "embed"):
        raise UnsupportedModelError(
            f"the onnx engine builds float32 embedding models; this is a {dtype} "
            f"{profile.task} model.",
            param="bei.engine",
            hint="Use `bei: {engine: torch}` (the default) for other tasks and dtypes.",
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


def build(loaded: LoadedConfig, out_dir: Path, fetch_options: FetchOptions) -> BuildResult:
    """The whole build: fetch, inspect, plan, write and smoke-test the engine artifact."""
    model_dir = fetch(loaded, fetch_options)
    profile = inspect(loaded, model_dir)
    spec = plan_artifact(loaded.config, profile)
    manifest = build_artifact(model_dir, profile, out_dir, spec=spec)
    return BuildResult(artifact_dir=out_dir, manifest=manifest, profile=profile)
