"""S3 source against real S3 emulators on 127.0.0.1: s3rver (checks signatures) and moto server
(honours If-Match). Each emulator starts once for this module, holding the MiniLM checkpoint plus
junk under models/minilm, and a pickle-only checkpoint under pickle-only/."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from bei_cli.checkpoint import FetchOptions, SecretLookup, fetch_checkpoint
from bei_cli.checkpoint.s3 import s3_store
from bei_cli.errors import CheckpointError, CredentialsError, UnsupportedModelError
from tests.fixtures.models import minilm_dir
from tests.fixtures.object_stores import (
    JUNK_FILES,
    S3RVER_KEY_ID,
    S3RVER_SECRET,
    UploadFile,
    checkpoint_files,
    fetched_files,
    local_build_files,
    start_moto,
    start_s3rver,
    upload_s3,
    write_junk,
)
from tests.unit.checkpoint.conftest import Repo

pytestmark = pytest.mark.integration

BUCKET = "bei-models"
PREFIX = "models/minilm"
SECRET_NAME = "s3_creds"
EMULATORS = {"s3rver": start_s3rver, "moto": start_moto}


@dataclass(frozen=True)
class S3Emulator:
    name: str
    endpoint: str

    def lookup(self, key_id: str = S3RVER_KEY_ID, secret_key: str = S3RVER_SECRET) -> SecretLookup:
        secret = {
            "aws_access_key_id": key_id,
            "aws_secret_access_key": secret_key,
            "region": "us-east-1",
            "endpoint_url": self.endpoint,
        }
        return SecretLookup(environ={"S3_CREDS": json.dumps(secret)}, secrets_dir=None)


@pytest.fixture(scope="module", params=sorted(EMULATORS))
def s3(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3Emulator]:
    workdir = tmp_path_factory.mktemp(request.param)
    with EMULATORS[request.param](workdir) as endpoint:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=S3RVER_KEY_ID,
            aws_secret_access_key=S3RVER_SECRET,
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        upload_s3(
            client, BUCKET, PREFIX, checkpoint_files(minilm_dir(), write_junk(workdir / "junk"))
        )
        pickle_only = [
            UploadFile(name, minilm_dir() / name) for name in ("config.json", "tokenizer.json")
        ] + [UploadFile("pytorch_model.bin", workdir / "junk" / "pytorch_model.bin")]
        upload_s3(client, BUCKET, "pickle-only", pickle_only)
        yield S3Emulator(request.param, endpoint)


def test_fetch_with_secret_brings_exactly_the_build_files(s3: S3Emulator, tmp_path: Path) -> None:
    snapshot = fetch_checkpoint(
        Repo("S3", f"s3://{BUCKET}/{PREFIX}", runtime_secret_name=SECRET_NAME),
        secrets=s3.lookup(),
        cache_dir=tmp_path,
        progress=False,
    )
    fetched = fetched_files(snapshot)
    assert fetched == local_build_files(minilm_dir())
    assert not set(JUNK_FILES) & set(fetched)


def test_fetch_with_the_aws_environment_and_a_trailing_slash(
    s3: S3Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name, value in {
        "AWS_ENDPOINT_URL": s3.endpoint,
        "AWS_ACCESS_KEY_ID": S3RVER_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3RVER_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }.items():
        monkeypatch.setenv(name, value)
    hf_token = "hf_notAnAwsSecret0123456789"
    # The default secret name holds an HF token here: not S3 credentials, so boto3's chain is used.
    secrets = SecretLookup(environ={"HF_ACCESS_TOKEN": hf_token}, secrets_dir=None)
    with caplog.at_level(logging.INFO, logger="bei_cli"):
        snapshot = fetch_checkpoint(
            Repo("S3", f"s3://{BUCKET}/{PREFIX}/"), secrets=secrets, cache_dir=tmp_path / "c"
        )
    assert fetched_files(snapshot) == local_build_files(minilm_dir())
    assert "does not hold" in caplog.text
    assert hf_token not in caplog.text


def test_missing_bucket_is_named(s3: S3Emulator, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="'no-such-bucket' does not exist") as err:
        fetch_checkpoint(
            Repo("S3", "s3://no-such-bucket/models/minilm", runtime_secret_name=SECRET_NAME),
            secrets=s3.lookup(),
            cache_dir=tmp_path,
        )
    assert type(err.value) is CheckpointError
    assert err.value.exit_code == 3
    assert s3.endpoint in err.value.message


def test_prefix_confusion_points_at_the_checkpoint(s3: S3Emulator, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=f"nothing under s3://{BUCKET}/model:") as err:
        fetch_checkpoint(
            Repo("S3", f"s3://{BUCKET}/model", runtime_secret_name=SECRET_NAME),
            secrets=s3.lookup(),
            cache_dir=tmp_path,
        )
    assert err.value.exit_code == 3
    assert err.value.hint is not None
    assert f"s3://{BUCKET}/models/minilm" in err.value.hint
    assert "1_Pooling" not in err.value.hint
    assert not list(tmp_path.rglob("*.safetensors"))


def test_pickle_only_is_refused_before_downloading(s3: S3Emulator, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelError, match="pickle") as err:
        fetch_checkpoint(
            Repo("S3", f"s3://{BUCKET}/pickle-only", runtime_secret_name=SECRET_NAME),
            secrets=s3.lookup(),
            cache_dir=tmp_path,
        )
    assert err.value.exit_code == 4
    assert f"s3://{BUCKET}/pickle-only" in err.value.message
    assert not list(tmp_path.rglob("pytorch_model.bin"))


def test_unknown_access_key_is_a_credentials_error_without_the_secret(
    s3: S3Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if s3.name == "moto":
        pytest.skip("moto server accepts any credentials")
    wrong = "wR0ngSecretKeyValue/0123456789abcdef"
    with caplog.at_level(logging.DEBUG), pytest.raises(CredentialsError) as err:
        fetch_checkpoint(
            Repo("S3", f"s3://{BUCKET}/{PREFIX}", runtime_secret_name=SECRET_NAME),
            secrets=s3.lookup("AKIAUNKNOWN", wrong),
            cache_dir=tmp_path,
        )
    assert err.value.exit_code == 3
    assert "rejected the S3 credentials from env S3_CREDS" in err.value.message
    shown = " ".join([err.value.message, err.value.hint or "", *err.value.details])
    assert wrong not in shown
    assert wrong not in caplog.text


def test_listing_is_relative_with_md5_only_for_single_part_etags(
    s3: S3Emulator, tmp_path: Path
) -> None:
    options = FetchOptions(secrets=s3.lookup(), cache_dir=tmp_path)
    store = s3_store(
        Repo("S3", f"s3://{BUCKET}/{PREFIX}", runtime_secret_name=SECRET_NAME), options
    )
    listed = {obj.key: obj for obj in store.list_objects(store.location.prefix)}
    assert set(listed) >= {f"{PREFIX}/config.json", f"{PREFIX}/1_Pooling/config.json"}
    weights = listed[f"{PREFIX}/model.safetensors"]  # 87 MiB: uploaded in parts
    multipart = "-" in weights.version  # s3rver gives a whole-object md5 even for multipart
    assert multipart or s3.name == "s3rver"
    assert weights.checksum == (None if multipart else ("md5", weights.version))
    config = listed[f"{PREFIX}/config.json"]
    assert config.checksum == ("md5", config.version)
    assert b"".join(store.read(config, 10)) == (minilm_dir() / "config.json").read_bytes()[10:]


def test_an_object_replaced_after_listing_is_detected(s3: S3Emulator, tmp_path: Path) -> None:
    if s3.name == "s3rver":
        pytest.skip("s3rver ignores If-Match")
    options = FetchOptions(secrets=s3.lookup(), cache_dir=tmp_path, progress=False)
    store = s3_store(
        Repo("S3", f"s3://{BUCKET}/replaced", runtime_secret_name=SECRET_NAME), options
    )
    store.client.put_object(Bucket=BUCKET, Key="replaced/config.json", Body=b"{}")
    (listed,) = store.list_objects("replaced/")
    store.client.put_object(Bucket=BUCKET, Key="replaced/config.json", Body=b'{"new": 1}')
    with pytest.raises(CheckpointError, match="changed or disappeared"):
        b"".join(store.read(listed, 0))
    (fresh,) = store.list_objects("replaced/")
    assert b"".join(store.read(fresh, 1)) == b'"new": 1}'
