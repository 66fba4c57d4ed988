"""Sources bei cannot fetch (yet). Each is a real adapter in the dispatch table that explains why.

S3, GCS, AZURE and REMOTE_URL come in a later release as their own modules (s3.py, ...) that
replace these entries in fetch.py; until then the user gets the manual way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bei_cli.checkpoint.spec import REPOSITORY_PARAM, FetchOptions, RepoSpec
from bei_cli.errors import UnsupportedModelError

SOURCE_PARAM = f"{REPOSITORY_PARAM}.source"
LOCAL_HINT = "then set `source: LOCAL` and `repo:` to that directory."


@dataclass(frozen=True)
class NotYetSupported:
    """A source that comes in a later release; `download` shows how to fetch it by hand."""

    source: str
    download: str  # a command with {repo} in it

    def __call__(self, repo: RepoSpec, options: FetchOptions) -> Path:
        raise UnsupportedModelError(
            f"checkpoint_repository source {self.source} is not yet supported by bei; it comes "
            "in a later release.",
            param=SOURCE_PARAM,
            hint=f"Download it yourself, e.g. `{self.download.format(repo=repo.repo)}`, "
            + LOCAL_HINT,
        )


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


PENDING_SOURCES: dict[str, NotYetSupported] = {
    "S3": NotYetSupported("S3", "aws s3 sync {repo} ./model"),
    "GCS": NotYetSupported("GCS", "gcloud storage cp -r {repo} ./model"),
    "AZURE": NotYetSupported("AZURE", "azcopy copy '{repo}' ./model --recursive"),
    "REMOTE_URL": NotYetSupported("REMOTE_URL", "mkdir model && curl -L {repo} | tar xz -C model"),
}
