"""LOCAL source: `repo` is a directory on this machine.

The config layer resolves a relative repo against config.yaml's folder; a relative path that
reaches this adapter directly is taken from the current directory.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bei_cli.checkpoint.layout import validate_checkpoint_dir
from bei_cli.checkpoint.spec import REPOSITORY_PARAM, FetchOptions, RepoSpec
from bei_cli.errors import CheckpointError

log = logging.getLogger(__name__)


def fetch_local(repo: RepoSpec, options: FetchOptions) -> Path:
    path = Path(repo.repo).expanduser()
    if not path.exists():
        raise CheckpointError(
            f"the LOCAL checkpoint directory {path} does not exist.",
            param=f"{REPOSITORY_PARAM}.repo",
            hint="Set repo to a directory with config.json, tokenizer.json and weights.",
        )
    if not path.is_dir():
        raise CheckpointError(
            f"the LOCAL checkpoint {path} is a file, not a directory.",
            param=f"{REPOSITORY_PARAM}.repo",
            hint="Point repo at the directory that holds config.json.",
        )
    if repo.revision:
        log.warning("revision %r is ignored for source LOCAL", repo.revision)
    resolved = path.resolve()
    validate_checkpoint_dir(resolved, allow_pickle=options.allow_pickle)
    return resolved
