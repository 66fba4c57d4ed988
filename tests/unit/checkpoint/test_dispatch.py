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


@pytest.mark.parametrize(
    ("source", "repo", "command"),
    [
        ("S3", "s3://bucket/models/minilm", "aws s3 sync s3://bucket/models/minilm"),
        ("GCS", "gs://bucket/minilm", "gcloud storage cp -r gs://bucket/minilm"),
        ("AZURE", "https://acct.blob.core.windows.net/c/minilm", "azcopy copy"),
        ("REMOTE_URL", "https://example.com/minilm.tar.gz", "curl -L"),
    ],
)
def test_later_sources_say_so_and_how_to_work_around(source: str, repo: str, command: str) -> None:
    with pytest.raises(UnsupportedModelError, match="not yet supported") as err:
        fetch_checkpoint(Repo(source, repo), secrets=NO_SECRETS)
    assert err.value.param == "trt_llm.build.checkpoint_repository.source"
    assert err.value.hint is not None
    assert command in err.value.hint
    assert "source: LOCAL" in err.value.hint


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
