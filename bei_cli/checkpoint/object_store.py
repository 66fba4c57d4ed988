"""What the object-store sources (S3, GCS, Azure) share.

Each store adapter (s3.py, gcs.py, azure.py) only knows its SDK: it parses its URI into a
`StoreLocation`, lists objects under a prefix (full keys), reads one object from an offset, and
classifies its SDK's exceptions (store_failures.py). Everything else lives here: the optional-SDK
dispatch entry, the runtime_secret_name rules, keys relative to the prefix, choosing the build
files, the "nothing under PREFIX" hint that finds the checkpoints the user probably meant, and the
fetch through the shared cache followed by the usual directory validation.
"""

from __future__ import annotations

import difflib
import importlib
import json
import logging
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fnmatch import fnmatch
from itertools import islice
from pathlib import Path
from typing import Protocol, TypeVar

from bei_cli.checkpoint.cache import (
    RemoteObject,
    default_cache_root,
    fetch_objects,
    select_build_objects,
)
from bei_cli.checkpoint.layout import MODEL_CONFIG, validate_checkpoint_dir
from bei_cli.checkpoint.secrets import FoundSecret, SecretLookup
from bei_cli.checkpoint.spec import REPOSITORY_PARAM, Fetcher, FetchOptions, RepoSpec
from bei_cli.checkpoint.store_failures import REPO_PARAM, SECRET_PARAM
from bei_cli.errors import (
    BeiError,
    CheckpointError,
    ConfigError,
    CredentialsError,
    UnsupportedModelError,
)

log = logging.getLogger(__name__)

# Truss's default runtime_secret_name. Missing, it means "use the SDK's standard credentials";
# holding something that is not this store's credentials (an HF token), it is ignored.
DEFAULT_SECRET_NAME = "hf_access_token"
HINT_SCAN_LIMIT = 2000  # keys listed to find the checkpoint the user probably meant
HINT_SUGGESTIONS = 3
MODULE_DIR_PATTERN = "[0-9]*_*"  # sentence-transformers module folders: 1_Pooling, 2_Dense


@dataclass(frozen=True)
class StoreLocation:
    """Where a checkpoint lives: `root` is the URI up to the bucket/container."""

    root: str  # "s3://bucket", "gs://bucket", "az://account/container"
    bucket: str
    prefix: str  # "" or "dir/sub/" (always ends with "/")
    bucket_word: str = "bucket"  # "container" on Azure

    @property
    def uri(self) -> str:
        return self.uri_of(self.prefix.rstrip("/"))

    def uri_of(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root


def parse_bucket_uri(repo: str, scheme: str, example: str) -> StoreLocation:
    """`scheme://bucket/prefix` -> StoreLocation; anything else is a config error."""
    head = f"{scheme}://"
    bucket, _, prefix = repo.strip().removeprefix(head).partition("/")
    if not repo.strip().startswith(head) or not bucket:
        raise ConfigError(
            f"{repo!r} is not a {head}BUCKET/PREFIX URI.",
            param=REPO_PARAM,
            hint=f"Write it as {example}.",
        )
    return StoreLocation(root=f"{head}{bucket}", bucket=bucket, prefix=normalize_prefix(prefix))


def normalize_prefix(prefix: str) -> str:
    """The folder a prefix names: `models/x` and `/models/x/` mean models/x/, not models/xy."""
    inner = "/".join(part for part in prefix.split("/") if part)
    return f"{inner}/" if inner else ""


@dataclass(frozen=True)
class SdkFetcher:
    """A source whose SDK is an optional extra (`bei-cli[s3]`): its adapter module is imported on
    first use, so bei starts without the SDK and says how to install it when it is needed."""

    source: str
    module: str  # e.g. "bei_cli.checkpoint.s3"
    function: str  # e.g. "fetch_from_s3"
    extra: str  # e.g. "s3"
    sdk_modules: tuple[str, ...]  # top-level packages whose absence means "install the extra"

    def __call__(self, repo: RepoSpec, options: FetchOptions) -> Path:
        try:
            adapter = importlib.import_module(self.module)
        except ImportError as exc:
            if (exc.name or "").split(".")[0] not in self.sdk_modules:
                raise
            raise UnsupportedModelError(
                f"source {self.source} needs the {exc.name} package, which is not installed.",
                param=f"{REPOSITORY_PARAM}.source",
                hint=f"pip install 'bei-cli[{self.extra}]'",
            ) from exc
        fetch: Fetcher = getattr(adapter, self.function)
        return fetch(repo, options)


# --- credentials from runtime_secret_name -----------------------------------------------------

Parsed = TypeVar("Parsed")


def store_secret(
    repo: RepoSpec,
    secrets: SecretLookup,
    parse: Callable[[FoundSecret], Parsed],
    *,
    what: str,
    fallback: str,
) -> Parsed | None:
    """The secret named by runtime_secret_name, parsed; None means "use the SDK's chain".

    `what` says what the secret must hold, `fallback` what is used without it (for hints).
    `parse` raises CredentialsError for a value of the wrong shape.
    """
    name = repo.runtime_secret_name
    found = secrets.find(name)
    if found is None:
        if name != DEFAULT_SECRET_NAME:
            raise CredentialsError(
                f"the secret {name!r} named by runtime_secret_name was not found.",
                param=SECRET_PARAM,
                hint=f"Put {what} in {secrets.places(name)}; or remove runtime_secret_name "
                f"to use {fallback}.",
            )
        return None
    try:
        return parse(found)
    except CredentialsError:
        if name != DEFAULT_SECRET_NAME:
            raise
        log.warning(
            "the default secret %s (%s) does not hold %s; using %s",
            name,
            found.origin,
            what,
            fallback,
        )
        return None


def secret_json(found: FoundSecret, what: str) -> dict[str, str]:
    """The secret as a JSON object of strings; the value itself never reaches the message."""
    try:
        data = json.loads(found.value)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise CredentialsError(
            f"the secret from {found.origin} is not a JSON object with {what}.",
            param=SECRET_PARAM,
            hint=f"Store {what} in it as one JSON object.",
        )
    return {str(k): str(v) for k, v in data.items() if v not in (None, "")}


# --- the fetch --------------------------------------------------------------------------------


class ObjectStore(Protocol):
    """One store's SDK, as the fetch needs it. Keys here are full keys in the bucket."""

    location: StoreLocation

    def list_objects(self, prefix: str) -> Iterator[RemoteObject]: ...

    def read(self, obj: RemoteObject, start: int) -> Iterator[bytes]: ...


@dataclass(frozen=True)
class PrefixedReader:
    """The cache's ObjectReader: it hands over keys relative to the checkpoint root."""

    store: ObjectStore

    def read(self, obj: RemoteObject, start: int) -> Iterator[bytes]:
        return self.store.read(replace(obj, key=self.store.location.prefix + obj.key), start)


def fetch_from_store(store: ObjectStore, options: FetchOptions) -> Path:
    """List, choose the build files, fetch them through the cache, validate the directory."""
    location = store.location
    found = [
        replace(obj, key=obj.key.removeprefix(location.prefix))
        for obj in store.list_objects(location.prefix)
        if not obj.key.endswith("/")  # "folder" placeholder objects some tools create
    ]
    if not found:
        raise nothing_under(store)
    selected = _select(location, found, allow_pickle=options.allow_pickle)
    cache_root = options.cache_dir or default_cache_root(options.secrets.environ)
    log.info("fetching %d of %d objects under %s", len(selected), len(found), location.uri)
    snapshot = fetch_objects(
        location.uri,
        selected,
        PrefixedReader(store),
        cache_root=cache_root,
        progress=options.progress,
    )
    validate_checkpoint_dir(snapshot, allow_pickle=options.allow_pickle)
    return snapshot


def _select(
    location: StoreLocation, found: list[RemoteObject], *, allow_pickle: bool
) -> list[RemoteObject]:
    """The build files; refusals (no config.json, pickle only) say which URI they are about."""
    try:
        return select_build_objects(found, allow_pickle=allow_pickle)
    except UnsupportedModelError as exc:
        exc.message = f"{location.uri}: {exc.message}"
        raise


def nothing_under(store: ObjectStore) -> CheckpointError:
    location = store.location
    return CheckpointError(
        f"nothing under {location.uri}: the {location.bucket_word} exists but has no objects "
        "with that prefix.",
        param=REPO_PARAM,
        hint=_nearest_hint(
            store, f"Check the prefix (bucket vs prefix: repo is {location.root}/PREFIX)."
        ),
    )


def _nearest_hint(store: ObjectStore, fallback: str) -> str:
    location = store.location
    wanted = location.prefix.rstrip("/")
    parent = normalize_prefix(posixpath.dirname(wanted))
    try:
        candidates = _checkpoint_dirs(store, parent)
        if not candidates and parent:
            candidates = _checkpoint_dirs(store, "")
    except BeiError:  # e.g. credentials that may list the prefix but not its parent
        return fallback
    candidates.discard(wanted)
    if not candidates:
        return f"{fallback} No {MODEL_CONFIG} was found near it in the {location.bucket_word}."
    nearest = difflib.get_close_matches(wanted, sorted(candidates), n=HINT_SUGGESTIONS, cutoff=0)
    found = ", ".join(location.uri_of(d) for d in nearest)
    return f"{fallback} Checkpoints found nearby: {found}."


def _checkpoint_dirs(store: ObjectStore, prefix: str) -> set[str]:
    """Folders holding a config.json, minus sentence-transformers module folders inside them."""
    keys = (obj.key for obj in islice(store.list_objects(prefix), HINT_SCAN_LIMIT))
    dirs = {posixpath.dirname(k) for k in keys if posixpath.basename(k) == MODEL_CONFIG}
    return {d for d in dirs if not _is_module_dir(d, dirs)}


def _is_module_dir(folder: str, checkpoint_dirs: set[str]) -> bool:
    parent, name = posixpath.split(folder)
    return fnmatch(name, MODULE_DIR_PATTERN) and parent in checkpoint_dirs
