"""Checkpoint fetching: one adapter per `checkpoint_repository.source`, all returning a validated
local directory. Takes plain values (RepoSpec protocol, SecretLookup); never imports the config."""

from bei_cli.checkpoint.fetch import FETCHERS, fetch_checkpoint, fetch_with_options
from bei_cli.checkpoint.layout import validate_checkpoint_dir
from bei_cli.checkpoint.secrets import DEFAULT_SECRETS_DIR, FoundSecret, SecretLookup
from bei_cli.checkpoint.spec import FetchOptions, RepoSpec

__all__ = [
    "DEFAULT_SECRETS_DIR",
    "FETCHERS",
    "FetchOptions",
    "FoundSecret",
    "RepoSpec",
    "SecretLookup",
    "fetch_checkpoint",
    "fetch_with_options",
    "validate_checkpoint_dir",
]
