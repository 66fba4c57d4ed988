"""AZURE source against Azurite on 127.0.0.1 (which checks account keys), started once for this
module, holding the MiniLM checkpoint plus junk under models/minilm in the container bei-models."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from bei_cli.checkpoint import SecretLookup, fetch_checkpoint
from bei_cli.errors import CheckpointError, CredentialsError
from tests.fixtures.models import minilm_dir
from tests.fixtures.object_stores import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    JUNK_FILES,
    azurite_connection_string,
    checkpoint_files,
    fetched_files,
    local_build_files,
    start_azurite,
    upload_azure,
    write_junk,
)
from tests.unit.checkpoint.conftest import Repo

pytestmark = pytest.mark.integration

CONTAINER = "bei-models"
PREFIX = "models/minilm"
REPO = f"az://{AZURITE_ACCOUNT}/{CONTAINER}/{PREFIX}"
# Same length and alphabet as the real key, so only the signature check can reject it.
WRONG_KEY = AZURITE_KEY[:10][::-1] + AZURITE_KEY[10:]

CONFIG = """
model_name: minilm
resources: {accelerator: L4, use_gpu: true}
trt_llm:
  build:
    base_model: encoder_bert
    checkpoint_repository: {source: AZURE, repo: "REPO"}
"""


@pytest.fixture(scope="module")
def blob_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("azurite")
    with start_azurite(workdir) as endpoint:
        service = BlobServiceClient.from_connection_string(azurite_connection_string(endpoint))
        container = service.create_container(CONTAINER)
        upload_azure(container, PREFIX, checkpoint_files(minilm_dir(), write_junk(workdir / "j")))
        yield endpoint


def secrets(**environ: str) -> SecretLookup:
    return SecretLookup(environ=environ, secrets_dir=None)


def assert_build_files_only(snapshot: Path) -> None:
    fetched = fetched_files(snapshot)
    assert fetched == local_build_files(minilm_dir())
    assert not set(JUNK_FILES) & set(fetched)


def test_connection_string_secret(blob_endpoint: str, tmp_path: Path) -> None:
    snapshot = fetch_checkpoint(
        Repo("AZURE", REPO, runtime_secret_name="azure_blob"),
        secrets=secrets(AZURE_BLOB=azurite_connection_string(blob_endpoint)),
        cache_dir=tmp_path,
        progress=False,
    )
    assert_build_files_only(snapshot)


def test_account_key_json_secret_with_a_path_style_url(blob_endpoint: str, tmp_path: Path) -> None:
    secret = json.dumps({"account_key": AZURITE_KEY})
    snapshot = fetch_checkpoint(
        Repo("AZURE", f"{blob_endpoint}/{CONTAINER}/{PREFIX}", runtime_secret_name="az"),
        secrets=secrets(AZ=secret),
        cache_dir=tmp_path,
        progress=False,
    )
    assert_build_files_only(snapshot)


def test_connection_string_from_the_environment(blob_endpoint: str, tmp_path: Path) -> None:
    connection = azurite_connection_string(blob_endpoint)
    snapshot = fetch_checkpoint(
        Repo("AZURE", REPO),
        secrets=secrets(AZURE_STORAGE_CONNECTION_STRING=connection),
        cache_dir=tmp_path,
        progress=False,
    )
    assert_build_files_only(snapshot)


def test_wrong_key_is_a_credentials_error_without_the_key(
    blob_endpoint: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    connection = azurite_connection_string(blob_endpoint, key=WRONG_KEY)
    with caplog.at_level(logging.DEBUG), pytest.raises(CredentialsError) as err:
        fetch_checkpoint(
            Repo("AZURE", REPO, runtime_secret_name="azure_blob"),
            secrets=secrets(AZURE_BLOB=connection),
            cache_dir=tmp_path,
        )
    assert err.value.exit_code == 3
    assert "rejected the Azure credentials from env AZURE_BLOB" in err.value.message
    shown = " ".join([err.value.message, err.value.hint or "", *err.value.details])
    assert WRONG_KEY not in shown
    assert WRONG_KEY not in caplog.text


def test_wrong_key_through_bei_fetch_exits_3(blob_endpoint: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.replace("REPO", REPO))
    env = {
        **os.environ,
        "AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string(blob_endpoint, WRONG_KEY),
        "BEI_CACHE_DIR": str(tmp_path / "cache"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bei_cli", "fetch", str(config), "--secrets-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 3, result.stderr
    assert "rejected the connection string from env AZURE_STORAGE_CONNECTION_STRING" in (
        result.stderr
    )
    assert WRONG_KEY not in result.stdout + result.stderr


def test_missing_container_is_named(blob_endpoint: str, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="container 'no-such-container' does not") as err:
        fetch_checkpoint(
            Repo("AZURE", f"az://{AZURITE_ACCOUNT}/no-such-container/m"),
            secrets=secrets(
                AZURE_STORAGE_CONNECTION_STRING=azurite_connection_string(blob_endpoint)
            ),
            cache_dir=tmp_path,
        )
    assert type(err.value) is CheckpointError
    assert err.value.exit_code == 3


def test_prefix_confusion_points_at_the_checkpoint(blob_endpoint: str, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nothing under") as err:
        fetch_checkpoint(
            Repo("AZURE", f"az://{AZURITE_ACCOUNT}/{CONTAINER}/minilm"),
            secrets=secrets(
                AZURE_STORAGE_CONNECTION_STRING=azurite_connection_string(blob_endpoint)
            ),
            cache_dir=tmp_path,
        )
    assert err.value.hint is not None
    assert f"az://{AZURITE_ACCOUNT}/{CONTAINER}/models/minilm" in err.value.hint


def test_credentials_of_another_account_are_refused(blob_endpoint: str) -> None:
    with pytest.raises(CredentialsError, match="for storage account 'devstoreaccount1'"):
        fetch_checkpoint(
            Repo("AZURE", f"az://otheraccount/{CONTAINER}/{PREFIX}"),
            secrets=secrets(
                AZURE_STORAGE_CONNECTION_STRING=azurite_connection_string(blob_endpoint)
            ),
        )
