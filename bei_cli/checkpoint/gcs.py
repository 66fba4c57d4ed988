"""GCS source: `gs://bucket/prefix` through google-cloud-storage.

Credentials: the secret named by runtime_secret_name holding a service-account JSON key; without
it Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's login, the metadata
server). With STORAGE_EMULATOR_HOST set the client talks to that emulator anonymously. Objects are
read in ranged chunks of the listed generation, so a replaced object is noticed; the checksum is
the object's md5 (absent on composite objects) or else its crc32c.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google.auth.exceptions as auth_errors
import requests
from google.api_core import exceptions as api_errors
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY
from google.oauth2 import service_account

from bei_cli.checkpoint.cache import Checksum, RemoteObject
from bei_cli.checkpoint.object_store import (
    StoreLocation,
    fetch_from_store,
    parse_bucket_uri,
    secret_json,
    store_secret,
)
from bei_cli.checkpoint.secrets import FoundSecret
from bei_cli.checkpoint.spec import FetchOptions, RepoSpec
from bei_cli.checkpoint.store_failures import (
    Failure,
    StoreAccess,
    store_error,
)
from bei_cli.errors import CredentialsError

log = logging.getLogger(__name__)

EXAMPLE = "gs://my-bucket/models/my-embedder"
SECRET_SHAPE = "a service-account JSON key"
CHAIN = (
    "Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, "
    "`gcloud auth application-default login`, the metadata server)"
)
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
PUBLIC_ENDPOINT = "https://storage.googleapis.com"
READ_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
CHUNK = 8 << 20
# google-api-core retries transient failures for up to 120 s by default; a fetch should fail
# sooner with a message than hang on an unreachable endpoint.
RETRY = DEFAULT_RETRY.with_timeout(30)

# API errors -> failure kind, most specific first; NotFound depends on the operation.
API_FAILURES: tuple[tuple[type[BaseException], Failure], ...] = (
    (api_errors.Unauthorized, Failure.BAD_CREDENTIALS),
    (api_errors.Forbidden, Failure.ACCESS_DENIED),
    (api_errors.PreconditionFailed, Failure.CHANGED),
    (auth_errors.DefaultCredentialsError, Failure.NO_CREDENTIALS),
    (auth_errors.RefreshError, Failure.BAD_CREDENTIALS),
    (auth_errors.TransportError, Failure.UNREACHABLE),
    (api_errors.RetryError, Failure.UNREACHABLE),
    (requests.exceptions.ChunkedEncodingError, Failure.INTERRUPTED),
    (requests.exceptions.ConnectionError, Failure.UNREACHABLE),
    (requests.exceptions.Timeout, Failure.UNREACHABLE),
)
SDK_ERRORS = (
    api_errors.GoogleAPIError,
    auth_errors.GoogleAuthError,
    requests.exceptions.RequestException,
)


def classify_gcs_error(exc: BaseException, *, reading: bool) -> Failure:
    if isinstance(exc, api_errors.NotFound):
        return Failure.CHANGED if reading else Failure.BUCKET_MISSING
    for kind, failure in API_FAILURES:
        if isinstance(exc, kind):
            return failure
    return Failure.OTHER


def parse_gcs_secret(found: FoundSecret) -> service_account.Credentials:
    info = secret_json(found, SECRET_SHAPE)
    try:
        return service_account.Credentials.from_service_account_info(info, scopes=[READ_SCOPE])
    except (ValueError, KeyError, auth_errors.GoogleAuthError) as exc:
        raise CredentialsError(
            f"the secret from {found.origin} is not a usable service-account key "
            f"({type(exc).__name__}).",
            hint="Store the JSON key file of a service account (`gcloud iam service-accounts "
            "keys create`) with read access to the bucket in the secret.",
        ) from None


def gcs_checksum(md5_base64: str | None, crc32c_base64: str | None) -> Checksum | None:
    if md5_base64:
        return ("md5", base64.b64decode(md5_base64).hex())
    if crc32c_base64:
        return ("crc32c", crc32c_base64)
    return None


@dataclass
class GcsStore:
    """A google-cloud-storage client for one location; implements object_store.ObjectStore."""

    location: StoreLocation
    client: storage.Client
    access: StoreAccess

    def list_objects(self, prefix: str) -> Iterator[RemoteObject]:
        try:
            for blob in self.client.list_blobs(self.location.bucket, prefix=prefix, retry=RETRY):
                yield RemoteObject(
                    key=blob.name,
                    size=int(blob.size or 0),
                    version=str(blob.generation),
                    checksum=gcs_checksum(blob.md5_hash, blob.crc32c),
                )
        except SDK_ERRORS as exc:
            raise store_error(classify_gcs_error(exc, reading=False), self.access, exc) from exc

    def read(self, obj: RemoteObject, start: int) -> Iterator[bytes]:
        generation = int(obj.version) if obj.version.isdigit() else None
        blob = self.client.bucket(self.location.bucket).blob(obj.key, generation=generation)
        try:
            for offset in range(start, obj.size, CHUNK):
                yield blob.download_as_bytes(
                    start=offset,
                    end=min(offset + CHUNK, obj.size) - 1,  # inclusive
                    raw_download=True,  # the stored bytes, even for gzip-encoded objects
                    checksum=None,  # per range; the cache verifies the whole object
                    retry=RETRY,
                )
        except SDK_ERRORS as exc:
            failure = classify_gcs_error(exc, reading=True)
            raise store_error(failure, self.access, exc, obj.key) from exc


def _client(
    credentials: service_account.Credentials | None, emulator: str | None
) -> storage.Client:
    if emulator:
        options: Any = {"api_endpoint": emulator}
        return storage.Client(
            project="bei", credentials=AnonymousCredentials(), client_options=options
        )
    if credentials is not None:
        return storage.Client(project=credentials.project_id, credentials=credentials)
    return storage.Client()


def _emulator_endpoint(environ_value: str) -> str | None:
    host = environ_value.strip()
    if not host:
        return None
    return host if "://" in host else f"http://{host}"


def gcs_store(repo: RepoSpec, options: FetchOptions) -> GcsStore:
    location = parse_bucket_uri(repo.repo, "gs", EXAMPLE)
    credentials = store_secret(
        repo, options.secrets, parse_gcs_secret, what=SECRET_SHAPE, fallback=CHAIN
    )
    emulator = _emulator_endpoint(options.secrets.environ.get(EMULATOR_ENV, ""))
    if emulator:
        described = f"anonymous access to the emulator ({EMULATOR_ENV})"
    elif credentials is not None:
        described = f"the service account {credentials.service_account_email}"
    else:
        described = CHAIN
    access = StoreAccess(
        location=location,
        endpoint=emulator or PUBLIC_ENDPOINT,
        credentials=described,
        endpoint_origin=f"{EMULATOR_ENV} points at an emulator",
        credentials_hint=f"put {SECRET_SHAPE} in the secret named by runtime_secret_name "
        f"({options.secrets.places(repo.runtime_secret_name)}), or use {CHAIN}",
    )
    try:
        client = _client(credentials, emulator)
    except auth_errors.GoogleAuthError as exc:
        raise store_error(classify_gcs_error(exc, reading=False), access, exc) from exc
    return GcsStore(location=location, client=client, access=access)


def fetch_from_gcs(repo: RepoSpec, options: FetchOptions) -> Path:
    return fetch_from_store(gcs_store(repo, options), options)
