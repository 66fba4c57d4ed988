"""AZURE source: Azure Blob Storage through azure-storage-blob.

`repo` is `az://ACCOUNT/CONTAINER/PREFIX`, `https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX`,
or a path-style URL `http://HOST:PORT/ACCOUNT/CONTAINER/PREFIX` (Azurite, Azure Stack).
Credentials: the secret named by runtime_secret_name, either a connection string or a JSON object
{account_url?, connection_string | account_key | sas_token}; without it
AZURE_STORAGE_CONNECTION_STRING; without that, anonymous access (public containers). Blobs are read
from an offset pinned to the listed ETag; the checksum is Content-MD5 when the uploader set it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    IncompleteReadError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient, ContainerClient

from bei_cli.checkpoint.cache import RemoteObject
from bei_cli.checkpoint.object_store import (
    StoreLocation,
    fetch_from_store,
    normalize_prefix,
    secret_json,
    store_secret,
)
from bei_cli.checkpoint.secrets import FoundSecret
from bei_cli.checkpoint.spec import FetchOptions, RepoSpec
from bei_cli.checkpoint.store_failures import (
    REPO_PARAM,
    SECRET_PARAM,
    Failure,
    StoreAccess,
    store_error,
)
from bei_cli.errors import ConfigError, CredentialsError

log = logging.getLogger(__name__)

EXAMPLE = "az://myaccount/models/my-embedder or https://myaccount.blob.core.windows.net/models/x"
SCHEMES = ("az://", "azure://")
PUBLIC_HOST = ".blob.core.windows.net"
SECRET_SHAPE = (
    "a connection string, or a JSON object {account_url?, connection_string | account_key | "
    "sas_token}"
)
CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
CHAIN = f"{CONNECTION_STRING_ENV}, else anonymous access (public containers only)"
CONNECTION_STRING_KEYS = ("AccountName=", "BlobEndpoint=", "SharedAccessSignature=")
# The SDK's storage retry waits 15 s, then 18 s, ... between attempts; fail within seconds.
RETRY_OPTIONS: dict[str, Any] = {"initial_backoff": 1, "increment_base": 2, "retry_total": 3}
BAD_CREDENTIAL_CODES = {"AuthenticationFailed", "InvalidAuthenticationInfo"}


@dataclass(frozen=True)
class AzureTarget:
    location: StoreLocation
    account: str
    account_url: str  # https://ACCOUNT.blob.core.windows.net or http://HOST:PORT/ACCOUNT


def parse_azure_uri(repo: str) -> AzureTarget:
    text = repo.strip()
    scheme = next((s for s in SCHEMES if text.startswith(s)), None)
    if scheme is not None:
        account, _, rest = text.removeprefix(scheme).partition("/")
        account_url = f"https://{account}{PUBLIC_HOST}"
        root_base = f"az://{account}"
    elif text.startswith(("https://", "http://")):
        url = urlsplit(text)
        rest = url.path.lstrip("/")
        if url.hostname and url.hostname.endswith(PUBLIC_HOST):
            account = url.hostname.removesuffix(PUBLIC_HOST)
            account_url = f"{url.scheme}://{url.netloc}"
        else:  # path-style: the account is the first path segment
            account, _, rest = rest.partition("/")
            account_url = f"{url.scheme}://{url.netloc}/{account}"
        root_base = account_url
    else:
        account, rest = "", ""
    container, _, prefix = rest.partition("/")
    if not account or not container:
        raise ConfigError(
            f"{repo!r} is not an Azure blob URI with an account and a container.",
            param=REPO_PARAM,
            hint=f"Write it as {EXAMPLE}.",
        )
    location = StoreLocation(
        root=f"{root_base}/{container}",
        bucket=container,
        prefix=normalize_prefix(prefix),
        bucket_word="container",
    )
    return AzureTarget(location=location, account=account, account_url=account_url)


@dataclass(frozen=True)
class AzureCredentials:
    origin: str
    account_url: str | None = None
    connection_string: str | None = field(default=None, repr=False)
    account_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(v for v in (self.connection_string, self.account_key, self.sas_token) if v)


def parse_azure_secret(found: FoundSecret) -> AzureCredentials:
    if not found.value.lstrip().startswith("{"):
        if not any(key in found.value for key in CONNECTION_STRING_KEYS):
            raise CredentialsError(
                f"the secret from {found.origin} is neither a connection string nor JSON.",
                hint=f"Store {SECRET_SHAPE} in it.",
            )
        return AzureCredentials(origin=found.origin, connection_string=found.value)
    data = secret_json(found, SECRET_SHAPE)
    credentials = AzureCredentials(
        origin=found.origin,
        account_url=data.get("account_url"),
        connection_string=data.get("connection_string"),
        account_key=data.get("account_key"),
        sas_token=data.get("sas_token"),
    )
    if not credentials.values:
        raise CredentialsError(
            f"the secret from {found.origin} has none of connection_string, account_key, "
            "sas_token.",
            hint=f"Store {SECRET_SHAPE} in it.",
        )
    return credentials


def classify_azure_error(exc: BaseException, *, reading: bool) -> Failure:
    if isinstance(exc, ResourceModifiedError):
        return Failure.CHANGED
    if isinstance(exc, ResourceNotFoundError):
        return Failure.CHANGED if reading else Failure.BUCKET_MISSING
    if isinstance(exc, HttpResponseError):
        return _http_failure(exc)
    if isinstance(exc, (IncompleteReadError, ServiceResponseError)):
        return Failure.INTERRUPTED
    if isinstance(exc, ServiceRequestError):
        return Failure.UNREACHABLE
    return Failure.OTHER


def _http_failure(exc: HttpResponseError) -> Failure:
    code = str(getattr(exc, "error_code", None) or "")
    if code == "NoAuthenticationInformation":
        return Failure.NO_CREDENTIALS
    if exc.status_code == 401 or code in BAD_CREDENTIAL_CODES:
        return Failure.BAD_CREDENTIALS
    if exc.status_code == 403:
        # A wrong key or a bad SAS signature reads "Server failed to authenticate the request".
        failed_auth = "failed to authenticate" in str(exc.message or "")
        return Failure.BAD_CREDENTIALS if failed_auth else Failure.ACCESS_DENIED
    return Failure.OTHER


@dataclass
class AzureStore:
    """A container client for one location; implements object_store.ObjectStore."""

    location: StoreLocation
    container: ContainerClient
    access: StoreAccess

    def list_objects(self, prefix: str) -> Iterator[RemoteObject]:
        try:
            for blob in self.container.list_blobs(name_starts_with=prefix or None):
                md5 = blob.content_settings.content_md5
                yield RemoteObject(
                    key=blob.name,
                    size=int(blob.size),
                    version=str(blob.etag).strip('"'),
                    checksum=("md5", bytes(md5).hex()) if md5 else None,
                )
        except AzureError as exc:
            raise store_error(classify_azure_error(exc, reading=False), self.access, exc) from exc

    def read(self, obj: RemoteObject, start: int) -> Iterator[bytes]:
        pinned: dict[str, Any] = {}
        if obj.version:
            pinned = {"etag": f'"{obj.version}"', "match_condition": MatchConditions.IfNotModified}
        try:
            download = self.container.download_blob(
                obj.key, offset=start, length=max(obj.size - start, 0) or None, **pinned
            )
            yield from download.chunks()
        except AzureError as exc:
            failure = classify_azure_error(exc, reading=True)
            raise store_error(failure, self.access, exc, obj.key) from exc


def _service_client(
    target: AzureTarget, credentials: AzureCredentials | None, environ_connection: str
) -> BlobServiceClient:
    connection = credentials.connection_string if credentials else environ_connection
    if connection:
        return BlobServiceClient.from_connection_string(connection, **RETRY_OPTIONS)
    account_url = (credentials.account_url if credentials else None) or target.account_url
    credential: Any = None
    if credentials and credentials.account_key:
        credential = {"account_name": target.account, "account_key": credentials.account_key}
    elif credentials and credentials.sas_token:
        credential = credentials.sas_token.lstrip("?")
    return BlobServiceClient(account_url, credential=credential, **RETRY_OPTIONS)


def _described(credentials: AzureCredentials | None, environ_connection: str) -> str:
    if credentials is not None:
        return f"the Azure credentials from {credentials.origin}"
    if environ_connection:
        return f"the connection string from env {CONNECTION_STRING_ENV}"
    return "anonymous access"


def azure_store(repo: RepoSpec, options: FetchOptions) -> AzureStore:
    target = parse_azure_uri(repo.repo)
    credentials = store_secret(
        repo, options.secrets, parse_azure_secret, what=SECRET_SHAPE, fallback=CHAIN
    )
    environ_connection = options.secrets.environ.get(CONNECTION_STRING_ENV, "").strip()
    try:
        service = _service_client(target, credentials, environ_connection)
    except ValueError as exc:  # a malformed connection string or account URL
        raise CredentialsError(
            f"{_described(credentials, environ_connection)} could not be used "
            f"({type(exc).__name__}).",
            param=SECRET_PARAM,
            hint=f"Check its format: {SECRET_SHAPE}.",
        ) from None
    if service.account_name and service.account_name.lower() != target.account.lower():
        raise CredentialsError(
            f"{_described(credentials, environ_connection)} is for storage account "
            f"{service.account_name!r}, but repo names {target.account!r}.",
            param=SECRET_PARAM,
            hint="Use credentials of the account in repo, or fix the account in repo.",
        )
    secret_values = credentials.values if credentials else (environ_connection,)
    access = StoreAccess(
        location=target.location,
        endpoint=service.url.rstrip("/"),
        credentials=_described(credentials, environ_connection),
        credentials_hint=f"put {SECRET_SHAPE} in the secret named by runtime_secret_name "
        f"({options.secrets.places(repo.runtime_secret_name)}), or set {CONNECTION_STRING_ENV}",
        endpoint_origin="the account in repo, or the connection string's BlobEndpoint or the "
        "secret's account_url",
        secret_values=tuple(v for v in secret_values if v),
    )
    container = service.get_container_client(target.location.bucket)
    return AzureStore(location=target.location, container=container, access=access)


def fetch_from_azure(repo: RepoSpec, options: FetchOptions) -> Path:
    return fetch_from_store(azure_store(repo, options), options)
