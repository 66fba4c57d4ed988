"""The OCI distribution API over httpx: one `RegistryClient` per (registry, repository scope).

A thin side-effect adapter: the requests, retries with backoff on connection errors, 429 and 5xx
(bounded, never on 401/403), and the translation of registry answers into bei errors. Pushing
and pulling whole images is in push.py and pull.py.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bei_cli.errors import CheckpointError, CredentialsError
from bei_cli.registry.auth import RegistryAuth
from bei_cli.registry.credentials import Credentials
from bei_cli.registry.reference import DOCKER_HUB, DOCKER_HUB_API

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Answers to a chunk PATCH that mean "this registry wants the blob in one PUT".
MONOLITHIC_STATUSES = frozenset({405, 501})
# Answers that mean the upload session is gone or out of step: start the blob again.
RESTART_STATUSES = frozenset({404, 416})
READ_BLOCK = 1 << 20

Progress = Callable[[int], None]  # bytes of the current blob done so far


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self.max_delay_s)
        return min(self.base_delay_s * 2**attempt, self.max_delay_s)


class UploadRestart(Exception):
    """The upload session was lost (or a chunk landed twice): upload this blob again."""


def _is_tls_mismatch(exc: Exception) -> bool:
    text = str(exc)
    return any(s in text for s in ("SSL", "WRONG_VERSION_NUMBER", "record layer", "TLS"))


def registry_error(response: httpx.Response, what: str) -> CheckpointError:
    """A registry's error answer as a bei error, with its `errors` JSON (code: message)."""
    details: list[str] = []
    try:
        for err in response.json().get("errors") or []:
            line = f"{err.get('code', '?')}: {err.get('message', '')}"
            details.append(line + (f" ({err['detail']})" if err.get("detail") else ""))
    except (ValueError, AttributeError):
        if response.text.strip():
            details.append(response.text.strip()[:300])
    message = f"{what}: the registry answered HTTP {response.status_code}"
    if response.status_code == 403:
        return CredentialsError(
            message, details=tuple(details), hint="the account lacks access to this repository"
        )
    return CheckpointError(message, details=tuple(details))


class RegistryClient:
    def __init__(
        self,
        registry: str,
        *,
        credentials: Credentials | None,
        insecure: bool = False,
        scope: str | None = None,
        login_hint: str = "",
        retry: RetryPolicy | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self.registry = registry
        self.insecure = insecure
        self.retry = retry or RetryPolicy()
        host = DOCKER_HUB_API if registry == DOCKER_HUB else registry
        self.base = httpx.URL(f"{'http' if insecure else 'https'}://{host}")
        self._tokens = httpx.Client(timeout=timeout_s, follow_redirects=True)
        self.auth = RegistryAuth(
            registry,
            credentials,
            scope=scope,
            fetch_token=lambda request: self._with_retries(lambda: self._tokens.send(request)),
            login_hint=login_hint,
        )
        self._http = httpx.Client(timeout=timeout_s, follow_redirects=True, auth=self.auth)

    def close(self) -> None:
        self._http.close()
        self._tokens.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests with retries ---------------------------------------------------------------

    def _unreachable(self, exc: Exception) -> CheckpointError:
        if not self.insecure and _is_tls_mismatch(exc):
            return CheckpointError(
                f"registry {self.registry} did not speak TLS ({type(exc).__name__}: {exc})",
                hint=f"if {self.registry} serves plain HTTP (a local registry), pass --insecure; "
                "bei never falls back to plain HTTP on its own",
            )
        plain = "" if self.insecure else " or pass --insecure if it serves plain HTTP"
        return CheckpointError(
            f"cannot reach registry {self.registry} at {self.base} ({type(exc).__name__}: {exc})",
            hint=f"check the address and that the registry is running{plain}",
        )

    def _with_retries(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            try:
                response = send()
            except httpx.TransportError as exc:
                if last or _is_tls_mismatch(exc):
                    raise self._unreachable(exc) from exc
                time.sleep(self.retry.delay(attempt))
                continue
            if response.status_code not in RETRY_STATUSES or last:
                return response
            response.close()
            time.sleep(self.retry.delay(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        target = self.base.join(url)
        if params:
            target = target.copy_merge_params(params)

        def send() -> httpx.Response:
            req = self._http.build_request(method, target, headers=headers, content=content)
            return self._http.send(req, stream=stream)

        # A streamed body cannot be sent twice: one attempt, the caller restarts the blob.
        if content is not None and not isinstance(content, bytes):
            try:
                return send()
            except httpx.TransportError as exc:
                raise UploadRestart(str(exc)) from exc
        return self._with_retries(send)

    # --- API ---------------------------------------------------------------------------------

    def ping(self) -> None:
        """GET /v2/: reachable, speaks the distribution API, and our credentials work."""
        response = self.request("GET", "/v2/")
        if response.status_code != 200:
            raise registry_error(response, f"registry {self.registry} /v2/ check")

    def blob_exists(self, repository: str, digest: str) -> bool:
        response = self.request("HEAD", f"/v2/{repository}/blobs/{digest}")
        if response.status_code in (200, 404):
            return response.status_code == 200
        raise registry_error(response, f"checking blob {digest}")

    def upload_blob(
        self,
        repository: str,
        digest: str,
        path: Path,
        size: int,
        chunk_size: int | None,
        progress: Progress,
    ) -> None:
        """Upload one blob, chunked when chunk_size < size; restarts a lost session (bounded)."""
        for attempt in range(self.retry.attempts):
            try:
                return self._upload_once(repository, digest, path, size, chunk_size, progress)
            except UploadRestart:
                if attempt == self.retry.attempts - 1:
                    raise CheckpointError(
                        f"uploading blob {digest} to {self.registry} kept failing",
                        hint="re-run the push: blobs already uploaded are skipped",
                    ) from None
                progress(0)
                time.sleep(self.retry.delay(attempt))

    def _start_upload(self, repository: str) -> httpx.URL:
        response = self.request("POST", f"/v2/{repository}/blobs/uploads/")
        if response.status_code != 202 or "Location" not in response.headers:
            raise registry_error(response, f"starting an upload to {repository}")
        return self.base.join(response.headers["Location"])

    def _upload_once(
        self,
        repository: str,
        digest: str,
        path: Path,
        size: int,
        chunk_size: int | None,
        progress: Progress,
    ) -> None:
        location = self._start_upload(repository)
        if chunk_size and chunk_size < size:
            finished = self._patch_chunks(repository, location, path, size, chunk_size, progress)
            if finished is not None:
                return self._finish(finished, digest, b"")
            # The registry refused chunks: the whole blob in one PUT on a fresh session.
            location = self._start_upload(repository)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        response = self.request(
            "PUT",
            location,
            params={"digest": digest},
            headers=headers,
            content=_read_blocks(path, progress),
        )
        self._check_finished(response, digest)

    def _patch_chunks(
        self,
        repository: str,
        location: httpx.URL,
        path: Path,
        size: int,
        chunk_size: int,
        progress: Progress,
    ) -> httpx.URL | None:
        offset = 0
        with path.open("rb") as blob:
            while offset < size:
                chunk = blob.read(chunk_size)
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                    "Content-Length": str(len(chunk)),
                }
                response = self.request("PATCH", location, headers=headers, content=chunk)
                if offset == 0 and response.status_code in MONOLITHIC_STATUSES:
                    return None
                if response.status_code in RESTART_STATUSES:
                    raise UploadRestart(f"HTTP {response.status_code}")
                if response.status_code != 202:
                    raise registry_error(response, f"uploading a chunk to {repository}")
                location = self.base.join(response.headers.get("Location", str(location)))
                offset += len(chunk)
                progress(offset)
        return location

    def _finish(self, location: httpx.URL, digest: str, body: bytes) -> None:
        headers = {"Content-Type": "application/octet-stream"}
        response = self.request(
            "PUT", location, params={"digest": digest}, headers=headers, content=body
        )
        self._check_finished(response, digest)

    def _check_finished(self, response: httpx.Response, digest: str) -> None:
        if response.status_code in RESTART_STATUSES:
            raise UploadRestart(f"HTTP {response.status_code}")
        if response.status_code != 201:
            raise registry_error(response, f"finishing the upload of {digest}")
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != digest:
            raise CheckpointError(f"the registry stored blob {answered}, we sent {digest}")

    def manifest_digest(self, repository: str, reference: str, accept: str) -> str | None:
        """The digest the tag (or digest) points at, or None if the registry has no such ref."""
        response = self.request(
            "HEAD", f"/v2/{repository}/manifests/{reference}", headers={"Accept": accept}
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise registry_error(response, f"looking up {repository}:{reference}")
        found = response.headers.get("Docker-Content-Digest")
        if found:
            return found
        body, _ = self.get_manifest(repository, reference, accept)
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def get_manifest(self, repository: str, reference: str, accept: str) -> tuple[bytes, str]:
        """The manifest's exact bytes and its media type."""
        response = self.request(
            "GET", f"/v2/{repository}/manifests/{reference}", headers={"Accept": accept}
        )
        if response.status_code != 200:
            raise registry_error(response, f"fetching the manifest {repository}:{reference}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return response.content, media_type

    def put_manifest(self, repository: str, tag: str, body: bytes, media_type: str) -> str:
        """PUT a manifest under a tag; returns its digest after checking the registry agrees."""
        response = self.request(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            headers={"Content-Type": media_type},
            content=body,
        )
        if response.status_code not in (200, 201):
            raise registry_error(response, f"pushing the manifest {repository}:{tag}")
        ours = "sha256:" + hashlib.sha256(body).hexdigest()
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != ours:
            raise CheckpointError(
                f"the registry stored manifest {answered} for {repository}:{tag}, we sent {ours}"
            )
        return ours

    def download_blob(self, repository: str, digest: str, dest: Path, progress: Progress) -> None:
        """Stream a blob into dest (via dest.partial), verifying its sha256."""
        partial = dest.with_name(dest.name + ".partial")
        for attempt in range(self.retry.attempts):
            try:
                return self._download_once(repository, digest, dest, partial, progress)
            except (httpx.TransportError, UploadRestart) as exc:
                if attempt == self.retry.attempts - 1:
                    raise self._unreachable(exc) from exc
                time.sleep(self.retry.delay(attempt))

    def _download_once(
        self, repository: str, digest: str, dest: Path, partial: Path, progress: Progress
    ) -> None:
        response = self.request("GET", f"/v2/{repository}/blobs/{digest}", stream=True)
        try:
            if response.status_code != 200:
                response.read()
                raise registry_error(response, f"downloading blob {digest}")
            hasher, done = hashlib.sha256(), 0
            with partial.open("wb") as out:
                for block in response.iter_bytes(READ_BLOCK):
                    hasher.update(block)
                    out.write(block)
                    done += len(block)
                    progress(done)
        finally:
            response.close()
        if "sha256:" + hasher.hexdigest() != digest:
            partial.unlink(missing_ok=True)
            raise CheckpointError(f"blob {digest} from {self.registry} does not match its digest")
        partial.replace(dest)


def _read_blocks(path: Path, progress: Progress) -> Iterator[bytes]:
    done = 0
    with path.open("rb") as blob:
        while block := blob.read(READ_BLOCK):
            done += len(block)
            yield block
            progress(done)
