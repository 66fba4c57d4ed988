"""`trt_llm.build.checkpoint_repository`: where the weights come from.

`repo` means something different per source: a Hugging Face repo id (HF), a bucket URI
(S3/GCS/AZURE), an HTTP(S) URL of a .tar.gz (REMOTE_URL), a Baseten training job id
(BASETEN_TRAINING), or a directory (LOCAL, a bei extension: Truss documents it as unsupported).
A relative LOCAL path is resolved against the config file's folder here, once, so every later
step sees an absolute path.
"""

from __future__ import annotations

import os
from pathlib import PurePath
from typing import Any

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from pydantic import Field, ValidationInfo, model_validator

from bei_cli.config.base import ConfigModel, Problem, base_dir, raise_problems, warn
from bei_cli.config.choices import CheckpointSource


class CheckpointRepository(ConfigModel):
    """A checkpoint location: source kind, repo, revision and the secret with credentials."""

    source: CheckpointSource = Field(
        description="HF (Hugging Face Hub), S3, GCS, AZURE (bucket URIs), REMOTE_URL (HTTP(S) "
        "URL of a .tar.gz), BASETEN_TRAINING (Baseten training job), LOCAL (a directory; bei "
        "only).",
    )
    repo: str = Field(
        min_length=1,
        description="HF: repo id `namespace/name`; S3/GCS/AZURE: bucket URI such as "
        "s3://bucket/path; REMOTE_URL: the URL; BASETEN_TRAINING: training job id; LOCAL: a "
        "directory, relative paths are resolved against the config file's folder.",
        examples=["BAAI/bge-large-en-v1.5", "s3://bucket/models/minilm", "./models/minilm"],
    )
    revision: str | None = Field(
        default=None,
        description="HF: branch, tag or commit SHA (e.g. main, refs/pr/1); BASETEN_TRAINING: "
        "the checkpoint folder (e.g. checkpoint-final). null: the default branch.",
    )
    runtime_secret_name: str = Field(
        default="hf_access_token",
        description="Name of the secret holding credentials: an HF token, or JSON "
        "credentials for S3/GCS/Azure. Only read when the source needs it.",
    )

    @model_validator(mode="before")
    @classmethod
    def _resolve_local_path(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or data.get("source") != "LOCAL":
            return data
        repo = data.get("repo")
        if not isinstance(repo, str) or not repo:
            return data
        if repo.startswith("~"):
            raise_problems(
                cls.__name__,
                [
                    Problem(
                        ("repo",),
                        "a LOCAL repo cannot start with '~' (bei does not expand it)",
                        repo,
                        hint="Write an absolute path, or a path relative to config.yaml.",
                    )
                ],
            )
        folder = base_dir(info)
        if folder is not None and not PurePath(repo).is_absolute():
            return {**data, "repo": os.path.normpath(folder / repo)}
        return data

    @model_validator(mode="after")
    def _check_repo(self, info: ValidationInfo) -> CheckpointRepository:
        if self.source == "HF":
            try:
                validate_repo_id(self.repo)
            except HFValidationError as exc:
                raise_problems(
                    type(self).__name__,
                    [
                        Problem(
                            ("repo",),
                            f"not a valid Hugging Face repo id: {exc}",
                            self.repo,
                            hint="Write `namespace/name` as on huggingface.co; for a directory "
                            "on disk use `source: LOCAL`.",
                        )
                    ],
                )
        if self.source == "BASETEN_TRAINING":
            warn(
                info,
                "checkpoint source BASETEN_TRAINING is valid Truss, but bei cannot fetch it: the "
                "checkpoint lives in Baseten's training storage. Download it and use "
                "`source: LOCAL` with its directory to build with bei.",
            )
        return self
