"""HF source: `huggingface_hub.snapshot_download` into the standard hub cache.

Only what a build needs is downloaded (layout.py): config, tokenizer, sentence-transformers files
and safetensors weights; pickle weights only for directories without safetensors, and only when
allowed. The cache is the hub's own (HF_HUB_CACHE / HF_HOME, or `cache_dir`), so a warm cache works
with HF_HUB_OFFLINE=1, and the hub's progress bars show on a terminal.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from huggingface_hub import constants as hub_constants
from huggingface_hub import snapshot_download
from huggingface_hub.utils import tqdm as hub_tqdm

from bei_cli.checkpoint.hub_errors import HubRequest, hub_failures, translate_hub_error
from bei_cli.checkpoint.layout import (
    METADATA_PATTERNS,
    PICKLE_HINT,
    PICKLE_NAMES,
    directories_without_safetensors,
    safetensors_patterns,
    validate_checkpoint_dir,
    weight_patterns,
)
from bei_cli.checkpoint.spec import FetchOptions, RepoSpec
from bei_cli.errors import UnsupportedModelError

log = logging.getLogger(__name__)

DEFAULT_REVISION = "main"


class SilentProgress(hub_tqdm):
    """The hub's progress bar class, always disabled (progress=False)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


def fetch_from_hub(repo: RepoSpec, options: FetchOptions) -> Path:
    found = options.secrets.find(repo.runtime_secret_name)
    request = HubRequest(
        repo_id=repo.repo,
        revision=repo.revision or DEFAULT_REVISION,
        cache_dir=str(options.cache_dir or hub_constants.HF_HUB_CACHE),
        offline=options.offline or hub_constants.HF_HUB_OFFLINE,
        # None lets the hub fall back to HF_TOKEN and its stored login.
        token_origin=found.origin if found else None,
        secret_places=options.secrets.places(repo.runtime_secret_name),
        token=found.value if found else None,
    )
    log.info(
        "fetching %s@%s from the Hugging Face Hub into %s (token: %s)",
        request.repo_id,
        request.revision,
        request.cache_dir,
        request.token_origin or "hub default",
    )
    folder = _download(request, options, (*METADATA_PATTERNS, *safetensors_patterns()))
    missing = directories_without_safetensors(folder)
    if missing:
        if not options.allow_pickle:
            raise _no_safetensors(request, missing)
        pickle = weight_patterns(PICKLE_NAMES, missing)
        folder = _download(request, options, (*METADATA_PATTERNS, *pickle))
    validate_checkpoint_dir(folder, allow_pickle=options.allow_pickle)
    return folder


def _download(request: HubRequest, options: FetchOptions, patterns: tuple[str, ...]) -> Path:
    try:
        folder = snapshot_download(
            request.repo_id,
            revision=request.revision,
            cache_dir=options.cache_dir,
            token=request.token,
            allow_patterns=list(patterns),
            local_files_only=options.offline,
            tqdm_class=None if options.progress else SilentProgress,
        )
    except hub_failures() as exc:
        raise translate_hub_error(exc, request) from exc
    return Path(folder)


def _no_safetensors(request: HubRequest, directories: tuple[str, ...]) -> UnsupportedModelError:
    where = ", ".join(d or "the repo root" for d in directories)
    return UnsupportedModelError(
        f"{request.repo_id}@{request.revision} has no safetensors weights in {where}; bei does "
        "not load pickle weights (pytorch_model.bin) by default because unpickling can run "
        "arbitrary code.",
        hint=PICKLE_HINT,
    )
