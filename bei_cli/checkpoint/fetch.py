"""`fetch_checkpoint`: one dispatch table from `checkpoint_repository.source` to its adapter."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from bei_cli.checkpoint.hf import fetch_from_hub
from bei_cli.checkpoint.local import fetch_local
from bei_cli.checkpoint.object_store import SdkFetcher
from bei_cli.checkpoint.pending import SOURCE_PARAM, fetch_baseten_training
from bei_cli.checkpoint.remote_url import fetch_remote_url
from bei_cli.checkpoint.secrets import SecretLookup
from bei_cli.checkpoint.spec import Fetcher, FetchOptions, RepoSpec
from bei_cli.errors import ConfigError

FETCHERS: Mapping[str, Fetcher] = MappingProxyType(
    {
        "HF": fetch_from_hub,
        "LOCAL": fetch_local,
        "BASETEN_TRAINING": fetch_baseten_training,
        "REMOTE_URL": fetch_remote_url,
        "S3": SdkFetcher(
            "S3", "bei_cli.checkpoint.s3", "fetch_from_s3", "s3", ("boto3", "botocore")
        ),
        "GCS": SdkFetcher(
            "GCS", "bei_cli.checkpoint.gcs", "fetch_from_gcs", "gcs", ("google", "requests")
        ),
        "AZURE": SdkFetcher(
            "AZURE", "bei_cli.checkpoint.azure", "fetch_from_azure", "azure", ("azure",)
        ),
    }
)


def fetch_checkpoint(
    repo: RepoSpec,
    *,
    secrets: SecretLookup,
    cache_dir: Path | None = None,
    progress: bool = True,
    offline: bool = False,
    allow_pickle: bool = False,
) -> Path:
    """Make the checkpoint available locally and return its directory (validated: config.json,
    tokenizer.json and safetensors weights, or pickle weights when `allow_pickle`)."""
    options = FetchOptions(
        secrets=secrets,
        cache_dir=cache_dir,
        progress=progress,
        offline=offline,
        allow_pickle=allow_pickle,
    )
    return fetch_with_options(repo, options)


def fetch_with_options(repo: RepoSpec, options: FetchOptions) -> Path:
    """`fetch_checkpoint` for callers that already hold a FetchOptions (the pipeline)."""
    fetcher = FETCHERS.get(repo.source)
    if fetcher is None:
        source = getattr(repo.source, "value", repo.source)
        raise ConfigError(
            f"unknown checkpoint_repository source {source!r}.",
            param=SOURCE_PARAM,
            hint=f"Use one of: {', '.join(FETCHERS)}.",
        )
    return fetcher(repo, options)
