"""S3 source: `s3://bucket/prefix` through boto3, for AWS and any S3-compatible store.

Credentials: the secret named by runtime_secret_name, a JSON object {aws_access_key_id,
aws_secret_access_key, aws_session_token?, region?, endpoint_url?}; without it boto3's own chain
(AWS_* env including AWS_ENDPOINT_URL, ~/.aws files, instance/role credentials). Objects are
listed page by page and read with ranged GETs pinned to the listed ETag (If-Match), so an object
replaced mid-fetch is noticed. The ETag doubles as the md5 checksum unless it is a multipart ETag
("...-N"), which is not a digest of the content.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ResponseStreamingError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from bei_cli.checkpoint.cache import RemoteObject
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

EXAMPLE = "s3://my-bucket/models/my-embedder"
SECRET_SHAPE = (
    'a JSON object {"aws_access_key_id": ..., "aws_secret_access_key": ...} (optional: '
    "aws_session_token, region, endpoint_url)"
)
CHAIN = "boto3's default credential chain (AWS_* env, ~/.aws, instance role)"
CHUNK = 1 << 20

# ClientError codes -> failure kind; anything else is Failure.OTHER.
S3_CODES: dict[str, Failure] = {
    "NoSuchBucket": Failure.BUCKET_MISSING,
    "AccessDenied": Failure.ACCESS_DENIED,
    "AllAccessDisabled": Failure.ACCESS_DENIED,
    "403": Failure.ACCESS_DENIED,
    "InvalidAccessKeyId": Failure.BAD_CREDENTIALS,
    "SignatureDoesNotMatch": Failure.BAD_CREDENTIALS,
    "ExpiredToken": Failure.BAD_CREDENTIALS,
    "InvalidToken": Failure.BAD_CREDENTIALS,
    "TokenRefreshRequired": Failure.BAD_CREDENTIALS,
    "401": Failure.BAD_CREDENTIALS,
    "NoSuchKey": Failure.CHANGED,
    "404": Failure.CHANGED,
    "PreconditionFailed": Failure.CHANGED,
    "412": Failure.CHANGED,
    "InvalidBucketName": Failure.INVALID_NAME,
}
SDK_ERRORS = (ClientError, BotoCoreError)


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint_url: str | None = None
    origin: str = ""


def parse_s3_secret(found: FoundSecret) -> S3Credentials:
    data = secret_json(found, SECRET_SHAPE)
    if not {"aws_access_key_id", "aws_secret_access_key"} <= data.keys():
        raise CredentialsError(
            f"the secret from {found.origin} lacks aws_access_key_id or aws_secret_access_key.",
            hint=f"Store {SECRET_SHAPE} in it.",
        )
    return S3Credentials(
        access_key_id=data["aws_access_key_id"],
        secret_access_key=data["aws_secret_access_key"],
        session_token=data.get("aws_session_token"),
        region=data.get("region"),
        endpoint_url=data.get("endpoint_url"),
        origin=found.origin,
    )


def classify_s3_error(exc: BaseException) -> Failure:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        return S3_CODES.get(str(error.get("Code", "")), S3_CODES.get(status, Failure.OTHER))
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return Failure.NO_CREDENTIALS
    if isinstance(exc, (IncompleteReadError, ResponseStreamingError)):
        return Failure.INTERRUPTED
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return Failure.UNREACHABLE
    if isinstance(exc, ParamValidationError):
        return Failure.INVALID_NAME
    return Failure.OTHER


@dataclass
class S3Store:
    """boto3's S3 client for one location; implements object_store.ObjectStore."""

    location: StoreLocation
    client: Any  # botocore's generated S3 client has no static type
    access: StoreAccess

    def list_objects(self, prefix: str) -> Iterator[RemoteObject]:
        pages = self.client.get_paginator("list_objects_v2")
        try:
            for page in pages.paginate(Bucket=self.location.bucket, Prefix=prefix):
                for item in page.get("Contents", ()):
                    yield _remote_object(item)
        except SDK_ERRORS as exc:
            raise store_error(classify_s3_error(exc), self.access, exc) from exc

    def read(self, obj: RemoteObject, start: int) -> Iterator[bytes]:
        request: dict[str, str] = {"Bucket": self.location.bucket, "Key": obj.key}
        if obj.version:
            request["IfMatch"] = f'"{obj.version}"'
        if start > 0:
            request["Range"] = f"bytes={start}-"
        try:
            body = self.client.get_object(**request)["Body"]
            try:
                yield from body.iter_chunks(CHUNK)
            finally:
                body.close()
        except SDK_ERRORS as exc:
            raise store_error(classify_s3_error(exc), self.access, exc, obj.key) from exc


def _remote_object(item: dict[str, Any]) -> RemoteObject:
    etag = str(item.get("ETag", "")).strip('"')
    # A multipart upload's ETag ("<md5 of md5s>-<parts>") is not the content's md5.
    checksum = ("md5", etag) if etag and "-" not in etag else None
    return RemoteObject(key=item["Key"], size=int(item["Size"]), version=etag, checksum=checksum)


def s3_store(repo: RepoSpec, options: FetchOptions) -> S3Store:
    location = parse_bucket_uri(repo.repo, "s3", EXAMPLE)
    credentials = store_secret(
        repo, options.secrets, parse_s3_secret, what=SECRET_SHAPE, fallback=CHAIN
    )
    if credentials is None:
        session = boto3.session.Session()
        endpoint_url = None
        secret_values: tuple[str, ...] = ()
    else:
        session = boto3.session.Session(
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
            region_name=credentials.region,
        )
        endpoint_url = credentials.endpoint_url
        secret_values = (
            credentials.secret_access_key,
            credentials.session_token or "",
        )
    client = session.client("s3", endpoint_url=endpoint_url, config=Config(user_agent_extra="bei"))
    access = StoreAccess(
        location=location,
        endpoint=client.meta.endpoint_url,
        credentials=f"the S3 credentials from {credentials.origin}" if credentials else CHAIN,
        credentials_hint=f"put {SECRET_SHAPE} in the secret named by runtime_secret_name "
        f"({options.secrets.places(repo.runtime_secret_name)}), or use {CHAIN}",
        endpoint_origin="the secret's endpoint_url, else AWS_ENDPOINT_URL or ~/.aws/config",
        secret_values=secret_values,
    )
    return S3Store(location=location, client=client, access=access)


def fetch_from_s3(repo: RepoSpec, options: FetchOptions) -> Path:
    return fetch_from_store(s3_store(repo, options), options)
