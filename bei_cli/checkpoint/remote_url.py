"""REMOTE_URL source: `repo` is an http(s) URL of an archive or of a directory of files.

- An archive (.tar.gz, .tgz, .tar, .zip) is downloaded through the cache as one object (resumed
  with Range requests where the server accepts them), extracted safely (archive.py) into its own
  content-keyed entry, and the archive copy is then dropped. A single top-level directory in the
  archive is the checkpoint root.
- Any other URL is a directory: its index page is read (and one level down, the
  sentence-transformers module directories such as 1_Pooling/), only the files a build needs are
  described with HEAD and fetched through the cache.

A bearer token is sent when the secret named by runtime_secret_name exists. The cache source id
is the URL without userinfo or query, so presigned URLs neither leak nor defeat the cache.
Limits on extraction: BEI_ARCHIVE_MAX_BYTES (default 50 GiB), BEI_ARCHIVE_MAX_FILES (100000).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Mapping
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlsplit

from bei_cli.checkpoint.archive import ExtractLimits, archive_suffix, extract_archive
from bei_cli.checkpoint.cache import (
    MODULE_DIR,
    RemoteObject,
    default_cache_root,
    fetch_objects,
    select_build_objects,
)
from bei_cli.checkpoint.cache_entries import (
    EXTRACTED,
    OBJECTS,
    PENDING,
    RESERVED_NAMES,
    build_entry,
    latest_complete,
    mark_used,
    remove_entry,
)
from bei_cli.checkpoint.http_site import (
    REPO_PARAM,
    Credentials,
    HttpSite,
    make_client,
    public_url,
)
from bei_cli.checkpoint.layout import validate_checkpoint_dir
from bei_cli.checkpoint.spec import FetchOptions, RepoSpec
from bei_cli.errors import CheckpointError, ConfigError, UnsupportedModelError

log = logging.getLogger(__name__)

LIMIT_SETTINGS = {"max_bytes": "BEI_ARCHIVE_MAX_BYTES", "max_files": "BEI_ARCHIVE_MAX_FILES"}


def fetch_remote_url(repo: RepoSpec, options: FetchOptions) -> Path:
    url = _checked_url(repo.repo)
    source_id = public_url(url)
    cache_root = (options.cache_dir or default_cache_root(options.secrets.environ)).resolve()
    is_archive = archive_suffix(urlsplit(url).path) is not None
    if repo.revision:
        log.warning("revision %r is ignored for source REMOTE_URL", repo.revision)
    if options.offline:
        folder = _cached(cache_root, EXTRACTED if is_archive else OBJECTS, source_id)
    else:
        found = options.secrets.find(repo.runtime_secret_name)
        credentials = Credentials(
            secret_places=options.secrets.places(repo.runtime_secret_name),
            origin=found.origin if found else None,
            token=found.value if found else None,
        )
        log.info("fetching %s (token: %s)", source_id, credentials.origin or "none")
        with make_client(credentials) as client:
            site = HttpSite(client, credentials)
            if is_archive:
                folder = _fetch_archive(site, url, source_id, cache_root, options)
            else:
                folder = _fetch_directory(site, url, source_id, cache_root, options)
    root = _checkpoint_root(folder)
    validate_checkpoint_dir(root, allow_pickle=options.allow_pickle)
    return root


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"REMOTE_URL repo {public_url(url)!r} is not an http(s) URL.",
            param=REPO_PARAM,
            hint="Use https://HOST/path/model.tar.gz (or .tgz, .tar, .zip), or a directory URL "
            "ending in / whose server lists the files.",
        )
    return url


def _fetch_archive(
    site: HttpSite, url: str, source_id: str, cache_root: Path, options: FetchOptions
) -> Path:
    name = PurePosixPath(urlsplit(url).path).name
    archive = site.describe(url, name)
    limits = archive_limits(options.secrets.environ)

    def download_and_extract(staging: Path) -> None:
        # Under the extracted entry's lock: a concurrent fetch waits for this one, then reuses.
        snapshot = fetch_objects(
            source_id, [archive], site, cache_root=cache_root, progress=options.progress
        )
        try:
            _empty(staging)
            extract_archive(snapshot / name, staging, label=source_id, limits=limits)
        except UnsupportedModelError:
            _empty(staging)  # a refused archive leaves nothing of itself behind
            raise
        finally:
            # The extracted tree is what is used (and a refused archive is of no use):
            # keeping the archive too would double the disk use.
            remove_entry(cache_root, snapshot.name, snapshot)

    key = _extracted_key(source_id, archive)
    return build_entry(cache_root, EXTRACTED, key, source_id, download_and_extract)


def _fetch_directory(
    site: HttpSite, url: str, source_id: str, cache_root: Path, options: FetchOptions
) -> Path:
    base = url if url.endswith("/") else url + "/"
    keys = _listed_files(site, base)
    wanted = select_build_objects(
        [RemoteObject(key=k, size=0, version="") for k in keys], allow_pickle=options.allow_pickle
    )
    objects = [site.describe(base + quote(o.key), o.key) for o in wanted]
    return fetch_objects(source_id, objects, site, cache_root=cache_root, progress=options.progress)


def _listed_files(site: HttpSite, base: str) -> list[str]:
    """Files of the directory and of its module directories (1_Pooling/, 2_Dense/, ...)."""
    files = []
    for child in site.index(base):
        if not child.endswith("/"):
            files.append(child)
        elif fnmatch(child.rstrip("/"), MODULE_DIR):
            inner = site.index(base + quote(child))
            files.extend(child + name for name in inner if not name.endswith("/"))
    return files


def _cached(cache_root: Path, kind: str, source_id: str) -> Path:
    folder = latest_complete(cache_root, kind, source_id)
    if folder is None:
        raise CheckpointError(
            f"{source_id} is not in the bei cache {cache_root}, and offline mode is on.",
            param=REPO_PARAM,
            hint="Run `bei fetch` once with network access (without --offline), or point "
            "--cache-dir / BEI_CACHE_DIR at a cache that has it.",
        )
    mark_used(folder)
    return folder


def _checkpoint_root(folder: Path) -> Path:
    """The archive's single top-level directory if it has one, else the entry itself."""
    children = [p for p in folder.iterdir() if p.name not in RESERVED_NAMES]
    if len(children) == 1 and children[0].is_dir() and not children[0].is_symlink():
        return children[0]
    return folder


def _extracted_key(source_id: str, archive: RemoteObject) -> str:
    identity = f"extracted|{source_id}|{archive.size}|{archive.version}"
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def _empty(staging: Path) -> None:
    """A clean start for an extraction an earlier run left half done."""
    for child in staging.iterdir():
        if child.name == PENDING:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def archive_limits(environ: Mapping[str, str]) -> ExtractLimits:
    """Extraction limits, from BEI_ARCHIVE_MAX_BYTES / BEI_ARCHIVE_MAX_FILES where set."""
    values: dict[str, int] = {}
    for field_name, variable in LIMIT_SETTINGS.items():
        raw = environ.get(variable, "").strip()
        if not raw:
            continue
        if not raw.isdigit():
            raise ConfigError(
                f"{variable}={raw!r} is not a whole number.",
                hint=f"Set {variable} to a count (files) or a byte size, e.g. 107374182400.",
            )
        values[field_name] = int(raw)
    return ExtractLimits(**values)
