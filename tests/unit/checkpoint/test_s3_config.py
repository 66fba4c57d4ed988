"""S3 source without an emulator: URI parsing, the secret's shapes, the default-secret rule, an
unreachable endpoint, and the optional-SDK dispatch shared by S3/GCS/AZURE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bei_cli.checkpoint import SecretLookup, fetch_checkpoint
from bei_cli.checkpoint.object_store import SdkFetcher, normalize_prefix, parse_bucket_uri
from bei_cli.checkpoint.spec import FetchOptions
from bei_cli.errors import CheckpointError, ConfigError, CredentialsError, UnsupportedModelError
from tests.fixtures.object_stores import closed_port_endpoint
from tests.unit.checkpoint.conftest import Repo

SECRET_KEY = "sEcReTaCcEsSkEy/0123456789abcdefghij"


def lookup(**environ: str) -> SecretLookup:
    return SecretLookup(environ=environ, secrets_dir=None)


@pytest.mark.parametrize(
    ("repo", "bucket", "prefix", "uri"),
    [
        ("s3://bkt/models/minilm", "bkt", "models/minilm/", "s3://bkt/models/minilm"),
        ("s3://bkt/models//minilm/", "bkt", "models/minilm/", "s3://bkt/models/minilm"),
        ("s3://bkt", "bkt", "", "s3://bkt"),
        (" s3://bkt/ ", "bkt", "", "s3://bkt"),
    ],
)
def test_bucket_uri(repo: str, bucket: str, prefix: str, uri: str) -> None:
    location = parse_bucket_uri(repo, "s3", "s3://b/p")
    assert (location.bucket, location.prefix, location.uri) == (bucket, prefix, uri)


@pytest.mark.parametrize("repo", ["bkt/models", "gs://bkt/models", "s3://", "s3:///models"])
def test_not_an_s3_uri_is_a_config_error(repo: str) -> None:
    with pytest.raises(ConfigError, match="not a s3://BUCKET/PREFIX URI") as err:
        fetch_checkpoint(Repo("S3", repo), secrets=lookup())
    assert err.value.exit_code == 2
    assert err.value.param == "trt_llm.build.checkpoint_repository.repo"


def test_prefix_is_a_folder() -> None:
    assert normalize_prefix("/a//b/") == "a/b/"
    assert normalize_prefix("") == ""


def test_an_explicitly_named_missing_secret_says_where_to_put_it() -> None:
    with pytest.raises(CredentialsError, match="'my_s3' named by runtime_secret_name") as err:
        fetch_checkpoint(Repo("S3", "s3://bkt/m", runtime_secret_name="my_s3"), secrets=lookup())
    assert err.value.exit_code == 3
    assert err.value.hint is not None
    assert "$my_s3 or $MY_S3" in err.value.hint
    assert "aws_access_key_id" in err.value.hint


@pytest.mark.parametrize(
    "value",
    [
        f"not json {SECRET_KEY}",
        json.dumps({"aws_secret_access_key": SECRET_KEY}),
        json.dumps([SECRET_KEY]),
    ],
)
def test_a_malformed_named_secret_is_refused_without_its_value(value: str) -> None:
    with pytest.raises(CredentialsError, match="env MY_S3") as err:
        fetch_checkpoint(
            Repo("S3", "s3://bkt/m", runtime_secret_name="my_s3"), secrets=lookup(MY_S3=value)
        )
    assert SECRET_KEY not in f"{err.value.message} {err.value.hint} {err.value.details}"


def test_unreachable_endpoint_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    endpoint = closed_port_endpoint()
    secret = {
        "aws_access_key_id": "AKIAEXAMPLE",
        "aws_secret_access_key": SECRET_KEY,
        "endpoint_url": endpoint,
        "region": "us-east-1",
    }
    with pytest.raises(CheckpointError, match="cannot reach the store") as err:
        fetch_checkpoint(
            Repo("S3", "s3://bkt/m", runtime_secret_name="s3"),
            secrets=lookup(S3=json.dumps(secret)),
            cache_dir=tmp_path,
        )
    assert type(err.value) is CheckpointError
    assert endpoint in err.value.message
    assert SECRET_KEY not in f"{err.value.message} {err.value.hint} {err.value.details}"


def test_a_missing_sdk_names_the_extra() -> None:
    fetcher = SdkFetcher("X", "bei_cli.checkpoint.no_such_sdk", "fetch", "x", ("bei_cli",))
    with pytest.raises(
        UnsupportedModelError, match=r"needs the bei_cli\.checkpoint\.no_such_sdk"
    ) as e:
        fetcher(Repo("X", "x://b"), FetchOptions(secrets=lookup()))
    assert e.value.hint == "pip install 'bei-cli[x]'"


def test_a_broken_import_inside_bei_is_not_blamed_on_the_sdk() -> None:
    fetcher = SdkFetcher("X", "bei_cli.checkpoint.no_such_sdk", "fetch", "x", ("boto3",))
    with pytest.raises(ModuleNotFoundError):
        fetcher(Repo("X", "x://b"), FetchOptions(secrets=lookup()))
