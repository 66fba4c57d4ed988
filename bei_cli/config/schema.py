"""The whole config.yaml as bei reads it: Truss's schema (every top-level key Truss accepts) plus
one optional `bei:` block, strict about unknown keys everywhere.

`BeiConfig` is validated once, by `bei_cli.config.load`, and then passed around read-only.
Accessors the rest of bei relies on: `.model_name`, `.resources.accelerator` (AcceleratorSpec or
None), `.trt_llm.build.{base_model, checkpoint_repository, max_num_tokens, max_batch_size,
max_seq_len, quantization_type}`, `.trt_llm.runtime.webserver_default_route`, `.bei`,
`.secrets`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bei_cli.config.accelerators import AcceleratorSpec
from bei_cli.config.base import ConfigModel, ignored, ignored_factory, raise_problems, warn
from bei_cli.config.checkpoint_repository import CheckpointRepository
from bei_cli.config.choices import is_encoder
from bei_cli.config.deployment import Build, Runtime
from bei_cli.config.options import BeiOptions
from bei_cli.config.platform import (
    BaseImage,
    BdnConfig,
    BisLlm,
    DockerServer,
    ExternalDataItem,
    ModelRepo,
    TrainingCheckpoints,
    WeightsSource,
)
from bei_cli.config.resources import Resources
from bei_cli.config.rules import config_problems, config_warnings
from bei_cli.config.trt_llm import TrtLlm
from bei_cli.config.trt_llm_build import TrtLlmBuild
from bei_cli.config.trt_llm_runtime import TrtLlmRuntime

__all__ = [
    "AcceleratorSpec",
    "BeiConfig",
    "BeiOptions",
    "CheckpointRepository",
    "Resources",
    "TrtLlm",
    "TrtLlmBuild",
    "TrtLlmRuntime",
]

PYTHON_VERSIONS = ("py39", "py310", "py311", "py312", "py313", "py314")


class BeiConfig(ConfigModel):
    """A Truss config.yaml for a BEI / BEI-Bert deployment, as bei serves it."""

    model_name: str | None = Field(
        default=None, description="Name of the model; names the build output and the image."
    )
    description: str | None = ignored("Free-text description of the model.")
    model_metadata: dict[str, Any] = ignored_factory(
        "Free-form metadata (example_model_input for the Baseten playground, tags).", dict
    )
    python_version: str = ignored("Python of the Truss server image, py39..py314.", "py313")
    environment_variables: dict[str, str] = Field(
        default_factory=dict,
        description="Environment of the serving container. Values are strings; booleans "
        "become 'true'/'false' and numbers their text, as in Truss. Do not store secrets here.",
    )
    secrets: dict[str, str | None] = Field(
        default_factory=dict,
        description="Secrets the deployment needs, by name, with null placeholders (values "
        "live in the secret store, never here), e.g. hf_access_token for gated models.",
    )
    requirements: list[str] = ignored_factory("Pip requirements of the Truss server.", list)
    requirements_file: str | None = ignored("Requirements file (exclusive with requirements).")
    system_packages: list[str] = ignored_factory("apt packages of the Truss image.", list)
    build_commands: list[str] = ignored_factory("Shell commands run at image build.", list)
    external_package_dirs: list[str] = ignored_factory("Extra package folders.", list)
    resources: Resources = Field(
        default_factory=Resources, description="CPU, memory and GPU of one replica."
    )
    runtime: Runtime = Field(
        default_factory=Runtime, description="Truss server runtime settings (top level)."
    )
    build: Build = ignored_factory("Truss image-build settings (top level).", Build)
    trt_llm: TrtLlm = Field(
        description="The engine block: trt_llm.build (model, checkpoint, token budget, "
        "quantization), trt_llm.runtime (default route). Required: it is what makes a Truss "
        "config a BEI config."
    )
    model_cache: list[ModelRepo] = ignored_factory("Deprecated Truss weight cache.", list)
    weights: list[WeightsSource] = ignored_factory(
        "Baseten Delivery Network weights (BEI configs use checkpoint_repository).", list
    )
    bdn: BdnConfig = ignored_factory("Baseten Delivery Network volumes.", BdnConfig)
    external_data: list[ExternalDataItem] | None = ignored("Remote files for the data dir.")
    docker_server: DockerServer | None = ignored(
        "Custom server image; Baseten generates it for BEI."
    )
    base_image: BaseImage | None = ignored("Custom base image of the Truss server.")
    training_checkpoints: TrainingCheckpoints | None = ignored(
        "Baseten training checkpoints mounted into a Truss server."
    )
    bis_llm: BisLlm | None = ignored("Baseten inference-stack LLM settings (decoders).")
    input_type: str = ignored("Legacy Truss key.", "Any")
    model_framework: str = ignored("Legacy Truss key.", "custom")
    model_type: str = ignored("Legacy Truss key.", "Model")
    model_module_dir: str = ignored("Legacy: folder of the Truss model class.", "model")
    model_class_filename: str = ignored("Legacy: file of the Truss model class.", "model.py")
    model_class_name: str = ignored("Legacy: name of the Truss model class.", "Model")
    bundled_packages_dir: str = ignored("Legacy: bundled packages folder.", "packages")
    data_dir: str = ignored("Legacy: data folder.", "data")
    examples_filename: str = ignored("Legacy: examples file.", "examples.yaml")
    use_local_src: bool = ignored("Legacy Truss key.", False)
    cache_internal: list[ModelRepo] | None = ignored("Internal Truss weight cache.")
    live_reload: bool = ignored("Truss live reload.", False)
    apply_library_patches: bool = ignored("Truss library patches.", True)
    spec_version: str = ignored("Truss spec version.", "2.0")
    bei: BeiOptions = Field(
        default_factory=BeiOptions,
        description="bei's own settings (engine, dtype, request limits, auth). Optional; "
        "bei-only (truss push rejects it).",
    )

    @model_validator(mode="before")
    @classmethod
    def _migrate_truss_input(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "hf_cache" in data:
            warn(info, "`hf_cache` is deprecated in Truss; read as `model_cache`.")
            legacy = data.pop("hf_cache")
            data.setdefault("model_cache", legacy or [])
        return _single_gpu_for_encoders(data, info)

    @field_validator("environment_variables", mode="before")
    @classmethod
    def _stringify_environment(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {key: _env_text(item) for key, item in value.items()}

    @field_validator("requirements_file")
    @classmethod
    def _one_requirements_source(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and info.data.get("requirements"):
            raise ValueError("only one of `requirements` and `requirements_file` may be set")
        return value

    @field_validator("weights")
    @classmethod
    def _one_weights_source(cls, value: list[WeightsSource], info: ValidationInfo) -> Any:
        if value and info.data.get("model_cache"):
            raise ValueError("only one of `model_cache` and `weights` may be set")
        return value

    @field_validator("python_version")
    @classmethod
    def _check_python_version(cls, value: str) -> str:
        if value not in PYTHON_VERSIONS:
            raise ValueError(f"must be one of {', '.join(PYTHON_VERSIONS)}")
        return value

    @model_validator(mode="after")
    def _cross_field_rules(self, info: ValidationInfo) -> BeiConfig:
        for message in config_warnings(self):
            warn(info, message)
        raise_problems(type(self).__name__, config_problems(self))
        return self

    @property
    def auto_truncate(self) -> bool:
        """bei.auto_truncate resolved for this base model (BEI-Bert truncates by default)."""
        return self.bei.resolved_auto_truncate(self.trt_llm.build.base_model)

    @property
    def served_model_name(self) -> str | None:
        return (
            self.bei.served_model_name or self.trt_llm.runtime.served_model_name or self.model_name
        )


def _env_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _single_gpu_for_encoders(data: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    """Encoders run on one GPU per replica: `H100:2` becomes `H100`, with a warning."""
    trt_llm, resources = data.get("trt_llm"), data.get("resources")
    if not isinstance(trt_llm, dict) or not isinstance(resources, dict):
        return data
    build = trt_llm.get("build")
    if not isinstance(build, dict) or not is_encoder(build.get("base_model")):
        return data
    try:
        spec = Resources.model_validate({"accelerator": resources.get("accelerator")}).accelerator
    except ValueError:
        return data  # the field validator reports it, at its path
    if spec is None or spec.count == 1:
        return data
    warn(
        info,
        f"resources.accelerator {spec}: {build['base_model']} engines run on one GPU per "
        f"replica, so bei requests {spec.type} (one GPU) per replica; scale out with replicas.",
    )
    return {**data, "resources": {**resources, "accelerator": spec.type}}
