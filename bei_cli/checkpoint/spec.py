"""What a checkpoint fetch takes: the repository spec (a Protocol) and the per-call options.

The spec is structural so the checkpoint core never imports the config layer: any object with
these four attributes works (the validated `checkpoint_repository` block, or a test's dataclass).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bei_cli.checkpoint.secrets import SecretLookup

# Where errors about the repository spec point in config.yaml.
REPOSITORY_PARAM = "trt_llm.build.checkpoint_repository"


class RepoSpec(Protocol):
    """`trt_llm.build.checkpoint_repository` as the fetchers read it."""

    @property
    def source(self) -> str: ...  # HF, S3, GCS, AZURE, REMOTE_URL, LOCAL, BASETEN_TRAINING

    @property
    def repo(self) -> str: ...

    @property
    def revision(self) -> str | None: ...

    @property
    def runtime_secret_name(self) -> str: ...


@dataclass(frozen=True)
class FetchOptions:
    """How to fetch, the same for every source."""

    secrets: SecretLookup
    cache_dir: Path | None = None  # None: the source's standard cache (HF: HF_HUB_CACHE)
    progress: bool = True
    offline: bool = False  # use only what is cached; HF_HUB_OFFLINE=1 does the same for HF
    allow_pickle: bool = False  # accept pytorch_model.bin when a directory has no safetensors


class Fetcher(Protocol):
    """One adapter per source: make the checkpoint available as a local directory."""

    def __call__(self, repo: RepoSpec, options: FetchOptions) -> Path: ...
