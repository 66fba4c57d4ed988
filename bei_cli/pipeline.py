"""`bei build` as a straight line of steps: validate -> fetch -> inspect -> plan -> build engine.

Each step is a plain function of the previous step's value; the CLI can run any of them alone.
The image step (OCI layers) is not built yet and says so; it comes with the packaging issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bei_cli.checkpoint import FetchOptions, fetch_with_options
from bei_cli.config.load import LoadedConfig
from bei_cli.config.schema import BeiConfig
from bei_cli.engine.build import ArtifactSpec, build_artifact
from bei_cli.engine.manifest import Manifest
from bei_cli.errors import UnsupportedHardwareError, UnsupportedModelError
from bei_cli.inspect import inspect_checkpoint
from bei_cli.inspect.profile import ModelProfile, Task

# What `POST /` serves when the config does not say: the route of the model's task (Truss does
# the same from config.json architectures).
DEFAULT_ROUTE_BY_TASK: dict[Task, str] = {
    "embed": "/v1/embeddings",
    "rerank": "/rerank",
    "classify": "/predict",
    "ner": "/predict_tokens",
}

# Tasks this release can build. The others are inspected correctly but their heads come later.
BUILDABLE_TASKS: frozenset[Task] = frozenset({"embed"})


@dataclass(frozen=True)
class BuildResult:
    artifact_dir: Path
    manifest: Manifest
    profile: ModelProfile


def plan_artifact(config: BeiConfig, profile: ModelProfile) -> ArtifactSpec:
    """Pure: decide engine, dtype and serving limits from the config and the checkpoint."""
    build = config.trt_llm.build
    if profile.task not in BUILDABLE_TASKS:
        raise UnsupportedModelError(
            f"{profile.architecture} is a {profile.task} model; this bei release builds "
            "embedding models only.",
            hint="Use a sentence-transformers / *Model checkpoint, or wait for the "
            "rerank/classify/NER release.",
        )
    if build.quantization_type != "no_quant":
        raise UnsupportedHardwareError(
            f"quantization_type {build.quantization_type!r} is not implemented in this bei "
            "release (FP8/FP4/int8 engines come later).",
            param="trt_llm.build.quantization_type",
            hint="Set trt_llm.build.quantization_type: no_quant to build a 16/32-bit engine.",
        )
    options = config.bei
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
