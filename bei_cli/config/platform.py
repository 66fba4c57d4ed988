"""Truss platform blocks a BEI config does not need: weight caches, custom images and servers,
training checkpoints. bei accepts them (their own keys are checked, so typos still fail) and
reports them as ignored; for BEI, `trt_llm.build.checkpoint_repository` is where weights come
from and Baseten fills in the server and image itself.

Deeply nested credential sections (`auth`, `docker_auth`) are kept as plain mappings: Truss
validates them at push time and bei never reads them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from bei_cli.config.base import ConfigModel


class ModelRepo(ConfigModel):
    """One `model_cache` entry (deprecated Truss weight cache)."""

    repo_id: str = Field(min_length=1, description="Repository or bucket path.")
    revision: str = Field(default="", description="Branch, tag or commit.")
    allow_patterns: list[str] | None = Field(default=None, description="Files to include.")
    ignore_patterns: list[str] | None = Field(default=None, description="Files to exclude.")
    volume_folder: str | None = Field(default=None, description="Folder under the cache volume.")
    use_volume: bool = Field(default=False, description="Mount from a volume instead of baking.")
    kind: Literal["hf", "gcs", "s3", "azure"] = Field(default="hf", description="Source kind.")
    runtime_secret_name: str = Field(
        default="hf_access_token", description="Secret holding credentials."
    )

    @field_validator("revision")
    @classmethod
    def _check_revision(cls, value: str) -> str:
        if len(value) == 1:
            raise ValueError("revision must be empty or at least 2 characters")
        return value


class WeightsSource(ConfigModel):
    """One `weights` entry (Baseten Delivery Network)."""

    source: str = Field(
        min_length=1, description="URI: hf://, s3://, gs://, azure://, r2://, cw:// or https://."
    )
    mount_location: str = Field(min_length=1, description="Absolute mount path at runtime.")
    auth: dict[str, Any] | None = Field(default=None, description="Credentials section.")
    auth_secret_name: str | None = Field(default=None, description="Secret with credentials.")
    allow_patterns: list[str] | None = Field(default=None, description="Files to include.")
    ignore_patterns: list[str] | None = Field(default=None, description="Files to exclude.")


class ExternalDataItem(ConfigModel):
    """A remote file Truss downloads into the data directory."""

    url: str = Field(min_length=1, description="Where to download from.")
    local_data_path: str = Field(min_length=1, description="Path under the data directory.")
    backend: str = Field(default="http_public", description="Download backend.")
    name: str | None = Field(default=None, description="Optional name.")


class DockerServer(ConfigModel):
    """A custom server image. Baseten generates this block for BEI itself."""

    start_command: str | None = Field(default=None, description="Command starting the server.")
    server_port: int = Field(description="Port the server listens on.")
    predict_endpoint: str = Field(description="Route Baseten's /predict maps to.")
    readiness_endpoint: str = Field(description="Readiness probe route.")
    liveness_endpoint: str = Field(description="Liveness probe route.")
    run_as_user_id: int | None = Field(default=None, description="Linux UID of the server.")
    no_build: bool | None = Field(default=None, description="Deploy the image as-is.")


class BaseImage(ConfigModel):
    """A custom base image for the Truss server."""

    image: str = Field(default="", description="Image reference.")
    python_executable_path: str = Field(default="", description="Python in the image.")
    docker_auth: dict[str, Any] | None = Field(
        default=None, description="Private registry credentials section."
    )


class TrainingArtifactReference(ConfigModel):
    """Files of one Baseten training job."""

    training_job_id: str = Field(description="Training job id.")
    paths: list[str] = Field(default_factory=list, description="Glob patterns of files.")


class TrainingCheckpoints(ConfigModel):
    """Checkpoints from Baseten training jobs mounted into a Truss server."""

    download_folder: str = Field(
        default="/tmp/training_checkpoints", description="Where checkpoints are downloaded."
    )
    artifact_references: list[TrainingArtifactReference] = Field(
        default_factory=list, description="Training job files to download."
    )
    loops_checkpoint_ids: list[str] = Field(
        default_factory=list, description="Loops checkpoint ids (exclusive with the above)."
    )


class BdnConfig(ConfigModel):
    """Baseten Delivery Network volumes."""

    mounts: list[dict[str, Any]] = Field(default_factory=list, description="Volume mounts.")
    access: list[dict[str, Any]] = Field(default_factory=list, description="Access grants.")
    hotload: dict[str, Any] = Field(default_factory=dict, description="Hot-loading settings.")


class BisLlm(ConfigModel):
    """Baseten inference-stack LLM settings (decoder deployments)."""

    config: dict[str, Any] | None = Field(default=None, description="Engine configuration.")
    version: str = Field(default="", description="Engine version.")
    additional_autoscaling_config: dict[str, Any] | None = Field(
        default=None, description="Extra autoscaling metrics."
    )
