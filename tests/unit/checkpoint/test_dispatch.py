from __future__ import annotations

from typing import get_args

import pytest

from bei_cli.checkpoint import FETCHERS, SecretLookup, fetch_checkpoint
from bei_cli.errors import ConfigError, UnsupportedModelError
from tests.unit.checkpoint.conftest import Repo

NO_SECRETS = SecretLookup(environ={}, secrets_dir=None)
TRUSS_SOURCES = ("HF", "GCS", "S3", "AZURE", "LOCAL", "REMOTE_URL", "BASETEN_TRAINING")


def test_every_truss_source_has_an_adapter() -> None:
    assert set(FETCHERS) == set(TRUSS_SOURCES)


def test_matches_the_config_schema() -> None:
    from bei_cli.config import choices

    assert set(FETCHERS) == set(get_args(choices.CheckpointSource))


def test_baseten_training_explains_why_not() -> None:
    with pytest.raises(UnsupportedModelError, match="Baseten's storage") as err:
        fetch_checkpoint(
            Repo("BASETEN_TRAINING", "p7qr9qv", "checkpoint-final"), secrets=NO_SECRETS
        )
    assert err.value.hint is not None
    assert "--job-id p7qr9qv" in err.value.hint
    assert "checkpoint-final" in err.value.hint


def test_unknown_source_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'FTP'"):
        fetch_checkpoint(Repo("FTP", "ftp://x"), secrets=NO_SECRETS)
