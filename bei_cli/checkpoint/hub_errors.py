"""Hugging Face Hub failures -> bei's typed errors, one table, token always redacted.

The hub's own message goes into `details` (minus any token); our message says what failed and the
hint says what to do. Order matters: subclasses come before their bases.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from huggingface_hub.errors import (
    DisabledRepoError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from bei_cli.checkpoint.spec import REPOSITORY_PARAM
from bei_cli.errors import BeiError, CheckpointError, ConfigError, CredentialsError

REPO_PARAM = f"{REPOSITORY_PARAM}.repo"
REVISION_PARAM = f"{REPOSITORY_PARAM}.revision"
SECRET_PARAM = f"{REPOSITORY_PARAM}.runtime_secret_name"
MAX_DETAIL_LINES = 4  # of the hub's own message, shown under ours


@dataclass(frozen=True)
class HubRequest:
    """What a hub error message may mention. `token` is only kept to redact it."""

    repo_id: str
    revision: str
    cache_dir: str
    offline: bool
    token_origin: str | None  # e.g. "env HF_ACCESS_TOKEN"; None: the hub's own HF_TOKEN / login
    secret_places: str  # where the secret was looked up, for hints
    token: str | None = field(default=None, repr=False)

    def redact(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text

    @property
    def token_description(self) -> str:
        if self.token_origin:
            return f"the token from {self.token_origin}"
        return "the hub's own token (HF_TOKEN or a stored `hf auth login`), if any"

    @property
    def token_hint(self) -> str:
        return f"Provide a read token via {self.secret_places}, or HF_TOKEN."


@cache
def transport_errors() -> tuple[type[BaseException], ...]:
    """The hub's HTTP client's network errors: httpx2 (hub 2.x), httpx (1.x), requests (0.x)."""
    found: list[type[BaseException]] = []
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def hub_failures() -> tuple[type[BaseException], ...]:
    """Everything `snapshot_download` raises for reasons outside bei's control."""
    return (OSError, HFValidationError, *transport_errors())


def _gated(exc: BaseException, req: HubRequest) -> BeiError:
    return CredentialsError(
        f"{req.repo_id} is a gated repository and {req.token_description} has no access to it.",
        param=SECRET_PARAM,
        hint=f"Accept the model's terms at https://huggingface.co/{req.repo_id} with the "
        f"token's account. {req.token_hint}",
    )


def _repo_not_found(exc: BaseException, req: HubRequest) -> BeiError:
    return CheckpointError(
        f"repository {req.repo_id} was not found on the Hugging Face Hub, or "
        f"{req.token_description} cannot see it.",
        param=REPO_PARAM,
        hint="Check the repo id (ORG/NAME). If the repo is private, the token must belong to an "
        f"account with read access. {req.token_hint}",
    )


def _revision_not_found(exc: BaseException, req: HubRequest) -> BeiError:
    return CheckpointError(
        f"revision {req.revision!r} does not exist in {req.repo_id}.",
        param=REVISION_PARAM,
        hint="Use a branch, tag or 40-character commit SHA of the repo (e.g. main, refs/pr/1).",
    )


def _disabled(exc: BaseException, req: HubRequest) -> BeiError:
    return CheckpointError(
        f"repository {req.repo_id} is disabled on the Hugging Face Hub.",
        param=REPO_PARAM,
        hint="Use another repository or a local copy (source: LOCAL).",
    )


def _not_cached(exc: BaseException, req: HubRequest) -> BeiError:
    if req.offline:
        why = "offline mode is on (HF_HUB_OFFLINE=1 or --offline)"
        hint = (
            "Run once with network access (unset HF_HUB_OFFLINE, drop --offline) to fill the "
            "cache, or point HF_HUB_CACHE / HF_HOME / --cache-dir at a cache that has it."
        )
    else:
        why = "the Hub could not be reached"
        hint = (
            "Check the network and proxy settings (HTTPS_PROXY, HF_ENDPOINT), or fill the cache "
            "on a machine with access and point HF_HUB_CACHE / --cache-dir at it."
        )
    return CheckpointError(
        f"{req.repo_id}@{req.revision} is not (completely) in the Hugging Face cache "
        f"{req.cache_dir}, and {why}.",
        param=REPO_PARAM,
        hint=hint,
    )


def _invalid_repo_id(exc: BaseException, req: HubRequest) -> BeiError:
    return ConfigError(
        f"{req.repo_id!r} is not a valid Hugging Face repo id.",
        param=REPO_PARAM,
        hint="Write it as ORG/NAME, e.g. sentence-transformers/all-MiniLM-L6-v2; for a local "
        "directory use source: LOCAL.",
    )


def _http_error(exc: BaseException, req: HubRequest) -> BeiError:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 401:
        return CredentialsError(
            f"the Hugging Face Hub rejected {req.token_description} (HTTP 401).",
            param=SECRET_PARAM,
            hint=f"Use a valid, unexpired token. {req.token_hint}",
        )
    if status == 403:
        return CredentialsError(
            f"{req.token_description} may not read {req.repo_id} (HTTP 403).",
            param=SECRET_PARAM,
            hint="Give the token read access to the repo (fine-grained tokens need it per repo).",
        )
    return CheckpointError(
        f"the Hugging Face Hub failed while fetching {req.repo_id} (HTTP {status}).",
        hint="Retry later; HTTP 429 means rate-limited (use a token), 5xx means the Hub is down.",
    )


def _io_error(exc: BaseException, req: HubRequest) -> BeiError:
    return CheckpointError(
        f"fetching {req.repo_id}@{req.revision} into {req.cache_dir} failed: {type(exc).__name__}.",
        hint="Check free disk space and write permission of the cache directory, and the network.",
    )


Translate = Callable[[BaseException, HubRequest], BeiError]


def _translations() -> tuple[tuple[tuple[type[BaseException], ...], Translate], ...]:
    return (
        ((GatedRepoError,), _gated),
        ((RepositoryNotFoundError,), _repo_not_found),
        ((RevisionNotFoundError,), _revision_not_found),
        ((DisabledRepoError,), _disabled),
        ((LocalEntryNotFoundError,), _not_cached),
        ((HFValidationError,), _invalid_repo_id),
        ((HfHubHTTPError,), _http_error),
        ((OSError, *transport_errors()), _io_error),
    )


def translate_hub_error(exc: BaseException, req: HubRequest) -> BeiError:
    if isinstance(exc, LocalEntryNotFoundError) and isinstance(exc.__cause__, HfHubHTTPError):
        # The hub answered (403, 5xx, ...) and nothing was cached: the answer is the reason.
        exc = exc.__cause__
    for types, translate in _translations():
        if isinstance(exc, types):
            error = translate(exc, req)
            break
    else:
        raise TypeError(f"not a hub failure: {type(exc).__name__}") from exc
    lines = [req.redact(line) for line in str(exc).splitlines() if line.strip()]
    error.details = tuple(lines[:MAX_DETAIL_LINES])
    error.message = req.redact(error.message)
    return error
