"""HTTP(S) access for the REMOTE_URL source, through httpx: describe a file (HEAD), list a
directory index page, read a file from an offset, and turn every failure into a typed error.

Bodies are read raw (Accept-Encoding: identity) so the bytes cached are the bytes the server
stores. A bearer token, when given, goes only into the Authorization header (httpx drops it on
redirects to another host); messages name URLs without userinfo or query.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx

from bei_cli.checkpoint.cache import Checksum, RemoteObject
from bei_cli.checkpoint.spec import REPOSITORY_PARAM
from bei_cli.errors import BeiError, CheckpointError, CredentialsError

log = logging.getLogger(__name__)

REPO_PARAM = f"{REPOSITORY_PARAM}.repo"
SECRET_PARAM = f"{REPOSITORY_PARAM}.runtime_secret_name"
TIMEOUT = httpx.Timeout(60.0, connect=15.0)


def public_url(url: str) -> str:
    """`url` without userinfo, query or fragment: safe to log, show and use as a cache source."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class Credentials:
    """Where a bearer token came from (for hints), and the token itself (never shown)."""

    secret_places: str  # e.g. "env $hf_access_token or ..., or the file /secrets/x"
    origin: str | None = None  # e.g. "env MY_TOKEN"; None: no token sent
    token: str | None = field(default=None, repr=False)


@dataclass
class HttpSite:
    client: httpx.Client
    credentials: Credentials
    urls: dict[str, str] = field(default_factory=dict)  # object key -> its URL
    ranges: dict[str, bool] = field(default_factory=dict)  # object key -> Accept-Ranges: bytes

    def describe(self, url: str, key: str) -> RemoteObject:
        """The file at `url` as a cache object named `key` (HEAD; GET headers if HEAD is
        refused). Its version is the ETag, else Last-Modified + size."""
        try:
            response = self.client.head(url)
            if response.status_code in (405, 501):
                with self.client.stream("GET", url) as streamed:
                    response = streamed
        except httpx.TransportError as exc:
            raise self.transport_error(exc, url) from exc
        self.check(response, url)
        length = response.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise CheckpointError(
                f"{public_url(url)} does not say its size (no Content-Length).",
                hint="Serve the files with a server that sends Content-Length (any static file "
                "server does), or download them yourself and use source: LOCAL.",
            )
        size = int(length)
        headers = response.headers
        version = headers.get("ETag") or f"{headers.get('Last-Modified', '')}|{size}"
        self.urls[key] = url
        self.ranges[key] = headers.get("Accept-Ranges", "").lower() == "bytes"
        return RemoteObject(key=key, size=size, version=version, checksum=_checksum(headers))

    def index(self, url: str) -> list[str]:
        """The direct children linked from the directory index page at `url` (ending in "/"),
        relative and unquoted; directories keep their trailing "/"."""
        try:
            response = self.client.get(url)
        except httpx.TransportError as exc:
            raise self.transport_error(exc, url) from exc
        self.check(response, url)
        if "html" not in response.headers.get("Content-Type", ""):
            raise CheckpointError(
                f"{public_url(url)} is neither an archive (.tar.gz, .tgz, .tar, .zip) nor a "
                "directory index page.",
                param=REPO_PARAM,
                hint="Point repo at an archive URL, or at a directory URL whose server lists "
                "the files (an autoindex page with links).",
            )
        base = str(response.url)
        return _children(base if base.endswith("/") else base + "/", response.text)

    def read(self, obj: RemoteObject, start: int) -> Iterator[bytes]:
        url = self.urls[obj.key]
        ranged = start > 0 and self.ranges.get(obj.key, False)
        headers = {"Range": f"bytes={start}-"} if ranged else {}
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                self.check(response, url)
                skip = start
                if response.status_code == 206:
                    _check_range(response, start, url)
                    skip = 0
                yield from _skipping(response.iter_raw(), skip)
        except httpx.TransportError as exc:
            raise self.transport_error(exc, url) from exc

    def check(self, response: httpx.Response, url: str) -> None:
        if response.status_code < 400:
            return
        translate = STATUS_ERRORS.get(response.status_code, _http_failure)
        raise translate(self, public_url(url), response.status_code)

    def transport_error(self, exc: httpx.TransportError, url: str) -> BeiError:
        for types, translate in TRANSPORT_ERRORS:
            if isinstance(exc, types):
                return translate(public_url(url), exc)
        return _broken(public_url(url), exc)


def _skipping(chunks: Iterator[bytes], skip: int) -> Iterator[bytes]:
    """The stream minus its first `skip` bytes (a server that ignored our Range header)."""
    for chunk in chunks:
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        yield chunk[skip:]
        skip = 0


def _check_range(response: httpx.Response, start: int, url: str) -> None:
    content_range = response.headers.get("Content-Range", "")
    if not content_range.startswith(f"bytes {start}-"):
        raise CheckpointError(
            f"{public_url(url)} answered a request for bytes {start}- with {content_range!r}.",
            hint="The server's range support is broken; run `bei cache prune --partial` and "
            "fetch again.",
        )


def _checksum(headers: httpx.Headers) -> Checksum | None:
    """A checksum the server states: Repr-Digest/Digest sha-256 or md5, or Content-MD5."""
    for name in ("Repr-Digest", "Digest"):
        for item in headers.get(name, "").split(","):
            algorithm, _, value = item.strip().partition("=")
            value = value.strip(":")
            if algorithm.lower() in ("sha-256", "md5") and value:
                hex_digest = base64.b64decode(value).hex()
                return ("sha256" if algorithm.lower() == "sha-256" else "md5", hex_digest)
    md5 = headers.get("Content-MD5")
    return ("md5", base64.b64decode(md5).hex()) if md5 else None


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(v for k, v in attrs if k == "href" and v)


def _children(base: str, page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    children = []
    for href in parser.hrefs:
        absolute = urljoin(base, href)
        if not absolute.startswith(base) or any(c in absolute for c in "?#"):
            continue  # parent links, sort links (?C=N;O=D), other sites
        name = unquote(absolute[len(base) :])
        if name and "/" not in name.rstrip("/") and name not in ("./", "../"):
            children.append(name)
    return sorted(set(children))


# --- failures -> typed errors ---------------------------------------------------------------


def _not_found(site: HttpSite, url: str, status: int) -> BeiError:
    return CheckpointError(
        f"{url} was not found (HTTP {status}).",
        param=REPO_PARAM,
        hint="Check the URL (open it in a browser or `curl -I` it). A directory URL must list "
        "its files on an index page.",
    )


def _unauthorized(site: HttpSite, url: str, status: int) -> BeiError:
    sent = f"the token from {site.credentials.origin}" if site.credentials.origin else "no token"
    return CredentialsError(
        f"{url} requires authentication (HTTP {status}); bei sent {sent}.",
        param=SECRET_PARAM,
        hint="Put a valid bearer token for the server in "
        f"{site.credentials.secret_places}; bei sends it as `Authorization: Bearer ...`.",
    )


def _forbidden(site: HttpSite, url: str, status: int) -> BeiError:
    sent = f"the token from {site.credentials.origin}" if site.credentials.origin else "no token"
    return CredentialsError(
        f"access to {url} is denied (HTTP {status}) with {sent}.",
        param=SECRET_PARAM,
        hint="Use a token that may read this URL, in " + site.credentials.secret_places + ".",
    )


def _http_failure(site: HttpSite, url: str, status: int) -> BeiError:
    return CheckpointError(
        f"{url} answered HTTP {status}.",
        hint="Retry later: 429 means rate-limited, 5xx a server problem.",
    )


STATUS_ERRORS: dict[int, Callable[[HttpSite, str, int], BeiError]] = {
    401: _unauthorized,
    403: _forbidden,
    404: _not_found,
    410: _not_found,
}


def _refused(url: str, exc: httpx.TransportError) -> BeiError:
    parts = urlsplit(url)
    return CheckpointError(
        f"cannot connect to {parts.hostname}:{parts.port or _default_port(parts.scheme)} "
        f"for {url} ({type(exc).__name__}).",
        param=REPO_PARAM,
        hint="Check the host and port in the URL, that the server is running, and proxy "
        "settings (HTTPS_PROXY / NO_PROXY).",
    )


def _timed_out(url: str, exc: httpx.TransportError) -> BeiError:
    return CheckpointError(
        f"{url} timed out ({type(exc).__name__}).",
        hint="Run the fetch again: finished files are kept and partial ones resume.",
    )


def _broken(url: str, exc: httpx.TransportError) -> BeiError:
    return CheckpointError(
        f"the connection broke while reading {url} ({type(exc).__name__}).",
        hint="Run the fetch again: the download resumes where it stopped.",
    )


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


TRANSPORT_ERRORS: tuple[
    tuple[type[Exception], Callable[[str, httpx.TransportError], BeiError]], ...
] = (
    (httpx.ConnectError, _refused),
    (httpx.TimeoutException, _timed_out),
)


def make_client(credentials: Credentials) -> httpx.Client:
    headers = {"Accept-Encoding": "identity"}
    if credentials.token:
        headers["Authorization"] = f"Bearer {credentials.token}"
    return httpx.Client(headers=headers, timeout=TIMEOUT, follow_redirects=True)
