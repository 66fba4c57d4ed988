"""Issue 4's acceptance: the real MiniLM checkpoint uploaded to s3rver, moto, the GCS emulator,
Azurite and a local HTTP server (tar.gz archive and loose files) builds, through `bei build` with
each SDK's standard environment conventions, into an engine whose embeddings are identical to the
one built from the local directory."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import boto3
import numpy as np
import pytest

from bei_cli.engine.artifact import load_engine
from bei_cli.engine.base import Batch
from tests.fixtures.archives import tar_of
from tests.fixtures.http_store import serve_directory
from tests.fixtures.models import minilm_dir
from tests.fixtures.object_stores import (
    S3RVER_KEY_ID,
    S3RVER_SECRET,
    azurite_connection_string,
    checkpoint_files,
    start_azurite,
    start_gcs_emulator,
    start_moto,
    start_s3rver,
    upload_azure,
    upload_gcs,
    upload_s3,
)
from tests.integration.conftest import bei

pytestmark = pytest.mark.integration

BUCKET, PREFIX = "models", "minilm"
# A fixed token batch (CLS ... SEP): the engines are compared, not the tokenizer.
SEQUENCES = [[101, 7592, 2088, 102], [101, 1996, 4248, 2829, 4419, 14523, 2058, 102], [101, 102]]

# source -> (checkpoint_repository.source, repo, extra environment) inside a started store
Store = Callable[[Path], AbstractContextManager[tuple[str, str, dict[str, str]]]]


@contextmanager
def s3_store(start: Callable[[Path], AbstractContextManager[str]], work: Path) -> Iterator:  # type: ignore[type-arg]
    with start(work) as endpoint:
        keys = {"aws_access_key_id": S3RVER_KEY_ID, "aws_secret_access_key": S3RVER_SECRET}
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
        client.create_bucket(Bucket=BUCKET)
        upload_s3(client, BUCKET, PREFIX, checkpoint_files(minilm_dir()))
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": S3RVER_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": S3RVER_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        yield "S3", f"s3://{BUCKET}/{PREFIX}", env


@contextmanager
def gcs_store(work: Path) -> Iterator:  # type: ignore[type-arg]
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with start_gcs_emulator(work) as endpoint:
        client = storage.Client(
            project="test",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": endpoint},
        )
        client.create_bucket(BUCKET)
        upload_gcs(client, BUCKET, PREFIX, checkpoint_files(minilm_dir()))
        yield "GCS", f"gs://{BUCKET}/{PREFIX}", {"STORAGE_EMULATOR_HOST": endpoint}


@contextmanager
def azure_store(work: Path) -> Iterator:  # type: ignore[type-arg]
    from azure.storage.blob import BlobServiceClient

    with start_azurite(work) as endpoint:
        connection = azurite_connection_string(endpoint)
        service = BlobServiceClient.from_connection_string(connection)
        upload_azure(service.create_container(BUCKET), PREFIX, checkpoint_files(minilm_dir()))
        repo = f"{endpoint}/{BUCKET}/{PREFIX}"
        yield "AZURE", repo, {"AZURE_STORAGE_CONNECTION_STRING": connection}


@contextmanager
def http_archive(work: Path) -> Iterator:  # type: ignore[type-arg]
    site = work / "site"
    site.mkdir()
    tar_of(minilm_dir(), site / "minilm.tar.gz")
    with serve_directory(site) as store:
        yield "REMOTE_URL", f"{store.url}/minilm.tar.gz", {}


@contextmanager
def http_files(work: Path) -> Iterator:  # type: ignore[type-arg]
    site = work / "site"
    shutil.copytree(minilm_dir(), site / "minilm")
    with serve_directory(site) as store:
        yield "REMOTE_URL", f"{store.url}/minilm/", {}


STORES: dict[str, Store] = {
    "s3rver": lambda work: s3_store(start_s3rver, work),
    "moto": lambda work: s3_store(start_moto, work),
    "gcs-emulator": gcs_store,
    "azurite": azure_store,
    "http-tar.gz": http_archive,
    "http-files": http_files,
}


def build_and_embed(work: Path, source: str, repo: str, env: dict[str, str]) -> np.ndarray:
    config = work / "config.yaml"
    config.write_text(
        "trt_llm:\n  build:\n    base_model: encoder_bert\n"
        f"    checkpoint_repository: {{source: {source}, repo: '{repo}'}}\n"
        # One engine for every source: `auto` would time torch against onnx per build, and
        # the comparison below is bit for bit.
        "bei: {engine: torch}\n"
    )
    artifact = work / "artifact"
    result = bei("build", str(config), "-o", str(artifact), "--quiet", "--no-image", env=env)
    assert result.returncode == 0, result.stderr
    engine, _ = load_engine(artifact)
    embeddings = engine.run(Batch.from_sequences(SEQUENCES)).embeddings
    assert embeddings is not None
    return embeddings


@pytest.fixture(scope="module")
def local_embeddings(tmp_path_factory: pytest.TempPathFactory, hub_env: dict[str, str]):  # type: ignore[no-untyped-def]
    work = tmp_path_factory.mktemp("local")
    return build_and_embed(work, "LOCAL", str(minilm_dir()), hub_env)


@pytest.mark.parametrize("store", sorted(STORES))
def test_every_source_builds_the_same_engine(
    store: str, tmp_path: Path, hub_env: dict[str, str], local_embeddings: np.ndarray
) -> None:
    with STORES[store](tmp_path) as (source, repo, extra):
        env = {**hub_env, **extra, "BEI_CACHE_DIR": str(tmp_path / "cache")}
        got = build_and_embed(tmp_path, source, repo, env)
    assert np.array_equal(got, local_embeddings), f"{store}: embeddings differ"
