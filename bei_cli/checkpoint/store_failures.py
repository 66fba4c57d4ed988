"""Object-store failures -> bei's typed errors, one table, secrets redacted.

Each store adapter classifies its SDK's exceptions into a `Failure` (what the user must fix);
`store_error` turns it into the error with a message naming the bucket, key and endpoint, and
the SDK's own words (redacted) as details.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from bei_cli.checkpoint.spec import REPOSITORY_PARAM
from bei_cli.errors import BeiError, CheckpointError, ConfigError, CredentialsError

if TYPE_CHECKING:
    from bei_cli.checkpoint.object_store import StoreLocation

REPO_PARAM = f"{REPOSITORY_PARAM}.repo"
SECRET_PARAM = f"{REPOSITORY_PARAM}.runtime_secret_name"
MAX_DETAIL_CHARS = 300


class Failure(Enum):
    """What went wrong, as far as the user's fix is concerned."""

    BUCKET_MISSING = "bucket missing"
    ACCESS_DENIED = "access denied"
    BAD_CREDENTIALS = "bad credentials"
    NO_CREDENTIALS = "no credentials"
    UNREACHABLE = "unreachable"
    CHANGED = "object changed"
    INTERRUPTED = "interrupted"
    INVALID_NAME = "invalid name"
    OTHER = "other"


@dataclass(frozen=True)
class StoreAccess:
    """What failure messages may say about how the store was reached (never a secret)."""

    location: StoreLocation
    endpoint: str
    credentials: str  # e.g. "the secret from env S3_CREDS", "boto3's default credential chain"
    credentials_hint: str  # where credentials can be given
    endpoint_origin: str  # where the endpoint came from / can be changed, for hints
    secret_values: tuple[str, ...] = field(default=(), repr=False)  # redacted from SDK text

    def redact(self, text: str) -> str:
        for value in self.secret_values:
            if value:
                text = text.replace(value, "***")
        return text


def _bucket_missing(a: StoreAccess, key: str) -> BeiError:
    loc = a.location
    return CheckpointError(
        f"the {loc.bucket_word} {loc.bucket!r} does not exist at {a.endpoint}.",
        param=REPO_PARAM,
        hint=f"Check the {loc.bucket_word} name in repo ({loc.uri}), and that the endpoint "
        "is the store that holds it.",
    )


def _access_denied(a: StoreAccess, key: str) -> BeiError:
    return CredentialsError(
        f"{a.credentials} may not read {a.location.uri_of(key) if key else a.location.uri}.",
        param=SECRET_PARAM,
        hint=f"Grant these credentials list and read access to the {a.location.bucket_word}, "
        f"or use others: {a.credentials_hint}.",
    )


def _bad_credentials(a: StoreAccess, key: str) -> BeiError:
    return CredentialsError(
        f"{a.endpoint} rejected {a.credentials} (wrong key, signature or expired token).",
        param=SECRET_PARAM,
        hint=f"Use valid, unexpired credentials: {a.credentials_hint}.",
    )


def _no_credentials(a: StoreAccess, key: str) -> BeiError:
    return CredentialsError(
        f"no credentials were found to read {a.location.uri} ({a.credentials}).",
        param=SECRET_PARAM,
        hint=f"Provide credentials: {a.credentials_hint}.",
    )


def _unreachable(a: StoreAccess, key: str) -> BeiError:
    return CheckpointError(
        f"cannot reach the store at {a.endpoint} to read {a.location.uri}.",
        hint=f"Check the network and proxy settings, and the endpoint ({a.endpoint_origin}).",
    )


def _changed(a: StoreAccess, key: str) -> BeiError:
    return CheckpointError(
        f"{a.location.uri_of(key)} changed or disappeared while it was being fetched.",
        hint="Run the fetch again once the upload to that prefix has finished.",
    )


def _interrupted(a: StoreAccess, key: str) -> BeiError:
    return CheckpointError(
        f"the connection to {a.endpoint} broke while reading {a.location.uri_of(key)}.",
        hint="Run the fetch again: completed files are kept and partial ones resume.",
    )


def _invalid_name(a: StoreAccess, key: str) -> BeiError:
    return ConfigError(
        f"{a.location.bucket!r} is not a valid {a.location.bucket_word} name.",
        param=REPO_PARAM,
        hint=f"Check repo ({a.location.uri}).",
    )


def _other(a: StoreAccess, key: str) -> BeiError:
    return CheckpointError(
        f"reading {a.location.uri_of(key) if key else a.location.uri} from {a.endpoint} failed.",
        hint="See the store's answer below; retry if it is a transient server error.",
    )


FAILURES: dict[Failure, Callable[[StoreAccess, str], BeiError]] = {
    Failure.BUCKET_MISSING: _bucket_missing,
    Failure.ACCESS_DENIED: _access_denied,
    Failure.BAD_CREDENTIALS: _bad_credentials,
    Failure.NO_CREDENTIALS: _no_credentials,
    Failure.UNREACHABLE: _unreachable,
    Failure.CHANGED: _changed,
    Failure.INTERRUPTED: _interrupted,
    Failure.INVALID_NAME: _invalid_name,
    Failure.OTHER: _other,
}


def store_error(
    failure: Failure, access: StoreAccess, exc: BaseException, key: str = ""
) -> BeiError:
    """The typed error for `failure`, with the SDK's own words (redacted) as details."""
    error = FAILURES[failure](access, key)
    answer = access.redact(f"{type(exc).__name__}: {exc}".splitlines()[0])
    error.details = (f"store said: {answer[:MAX_DETAIL_CHARS]}",)
    return error
