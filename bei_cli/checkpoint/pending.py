"""Sources bei cannot fetch. Each is a real adapter in the dispatch table that explains why and
gives the manual way round."""

from __future__ import annotations

from pathlib import Path

from bei_cli.checkpoint.spec import REPOSITORY_PARAM, FetchOptions, RepoSpec
from bei_cli.errors import UnsupportedModelError

SOURCE_PARAM = f"{REPOSITORY_PARAM}.source"
LOCAL_HINT = "then set `source: LOCAL` and `repo:` to that directory."


def fetch_baseten_training(repo: RepoSpec, options: FetchOptions) -> Path:
    raise UnsupportedModelError(
        f"source BASETEN_TRAINING cannot be fetched by bei: the checkpoints of training job "
        f"{repo.repo!r} live in Baseten's storage, which only Baseten's own build service "
        "resolves; there is no public download protocol bei could speak.",
        param=SOURCE_PARAM,
        hint=f"List the files' download URLs with `baseten train checkpoint files --job-id "
        f"{repo.repo}`, download the checkpoint ({repo.revision or 'e.g. checkpoint-final'}) "
        "into a directory, " + LOCAL_HINT,
    )
