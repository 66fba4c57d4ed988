"""GCS source against gcp-storage-emulator on 127.0.0.1 (STORAGE_EMULATOR_HOST), started once
for this module, holding the MiniLM checkpoint plus junk under models/minilm."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from bei_cli.checkpoint import FetchOptions, SecretLookup, fetch_checkpoint
from bei_cli.checkpoint.gcs import gcs_checksum, gcs_store
from bei_cli.errors import CheckpointError, ConfigError, CredentialsError
from tests.fixtures.models import minilm_dir
from tests.fixtures.object_stores import (
    JUNK_FILES,
    checkpoint_files,
    fetched_files,
    local_build_files,
    start_gcs_emulator,
    upload_gcs,
    write_junk,
)
from tests.unit.checkpoint.conftest import Repo

BUCKET = "bei-models"
PREFIX = "models/minilm"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\\nnotArealKey0123456789\\n-----END PRIVATE KEY-----"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("gcs")
    with start_gcs_emulator(workdir) as endpoint:
        client = storage.Client(
            project="test",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": endpoint},
        )
        client.create_bucket(BUCKET)
        upload_gcs(
            client, BUCKET, PREFIX, checkpoint_files(minilm_dir(), write_junk(workdir / "j"))
        )
        yield endpoint


def emulated(endpoint: str, **environ: str) -> SecretLookup:
    return SecretLookup(environ={"STORAGE_EMULATOR_HOST": endpoint, **environ}, secrets_dir=None)


@pytest.mark.integration
def test_fetch_brings_exactly_the_build_files(emulator: str, tmp_path: Path) -> None:
    snapshot = fetch_checkpoint(
        Repo("GCS", f"gs://{BUCKET}/{PREFIX}"),
        secrets=emulated(emulator),
        cache_dir=tmp_path,
        progress=False,
    )
    fetched = fetched_files(snapshot)
    assert fetched == local_build_files(minilm_dir())
    assert not set(JUNK_FILES) & set(fetched)


@pytest.mark.integration
def test_listing_has_generations_and_md5(emulator: str, tmp_path: Path) -> None:
    options = FetchOptions(secrets=emulated(emulator.removeprefix("http://")), cache_dir=tmp_path)
    store = gcs_store(Repo("GCS", f"gs://{BUCKET}/{PREFIX}"), options)
    listed = {obj.key: obj for obj in store.list_objects(store.location.prefix)}
    config = listed[f"{PREFIX}/config.json"]
    local = (minilm_dir() / "config.json").read_bytes()
    assert config.version.isdigit()
    assert config.checksum == ("md5", hashlib.md5(local).hexdigest())
    assert b"".join(store.read(config, 100)) == local[100:]


@pytest.mark.integration
def test_missing_bucket_is_named(emulator: str, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="'no-such-bucket' does not exist") as err:
        fetch_checkpoint(
            Repo("GCS", "gs://no-such-bucket/models/minilm"),
            secrets=emulated(emulator),
            cache_dir=tmp_path,
        )
    assert type(err.value) is CheckpointError
    assert err.value.exit_code == 3
    assert emulator in err.value.message


@pytest.mark.integration
def test_prefix_confusion_points_at_the_checkpoint(emulator: str, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=f"nothing under gs://{BUCKET}/models/mini:") as err:
        fetch_checkpoint(
            Repo("GCS", f"gs://{BUCKET}/models/mini"),
            secrets=emulated(emulator),
            cache_dir=tmp_path,
        )
    assert err.value.hint is not None
    assert f"gs://{BUCKET}/models/minilm" in err.value.hint


def test_crc32c_when_there_is_no_md5() -> None:
    md5 = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    assert gcs_checksum(md5, "AAAAAA==") == ("md5", hashlib.md5(b"x").hexdigest())
    assert gcs_checksum(None, "AAAAAA==") == ("crc32c", "AAAAAA==")
    assert gcs_checksum(None, None) is None


def test_not_a_gs_uri_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="gs://BUCKET/PREFIX"):
        fetch_checkpoint(Repo("GCS", "s3://bkt/m"), secrets=SecretLookup(secrets_dir=None))


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        json.dumps({"type": "service_account", "private_key": PRIVATE_KEY}),
        json.dumps(
            {
                "type": "service_account",
                "client_email": "x@y.iam.gserviceaccount.com",
                "token_uri": "https://oauth2.googleapis.com/token",
                "private_key": PRIVATE_KEY,
            }
        ),
    ],
)
def test_a_bad_service_account_secret_is_refused_without_its_key(value: str) -> None:
    secrets = SecretLookup(environ={"GCS_SA": value}, secrets_dir=None)
    with pytest.raises(CredentialsError, match="env GCS_SA") as err:
        fetch_checkpoint(Repo("GCS", "gs://b/m", runtime_secret_name="gcs_sa"), secrets=secrets)
    assert err.value.exit_code == 3
    assert "notArealKey" not in f"{err.value.message} {err.value.hint} {err.value.details}"
