"""Registry authentication: the `WWW-Authenticate` challenge (Basic or Bearer) answered with the
credentials we resolved, as an `httpx.Auth` so every request of a client goes through it.

Bearer follows the distribution token spec: GET the challenge's realm with `service` and `scope`
(basic credentials when we have some, anonymous otherwise), then retry with `Bearer <token>`.
A second 401 with fresh credentials is a wrong password: never retried.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import httpx

from bei_cli.errors import CheckpointError, CredentialsError
from bei_cli.registry.credentials import ENV_PASSWORD, ENV_USERNAME, Credentials

_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')
TOKEN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercase: "basic" or "bearer"
    params: dict[str, str] = field(default_factory=dict)


def parse_challenge(header: str) -> Challenge:
    """`Bearer realm="...",service="...",scope="repository:a/b:pull,push"` as a Challenge."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) or m.group(3) or "") for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), {k: v.replace('\\"', '"') for k, v in params.items()})


def basic_header(credentials: Credentials) -> str:
    token = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(token).decode("ascii")


TokenFetcher = Callable[[httpx.Request], httpx.Response]


class RegistryAuth(httpx.Auth):
    """Answers 401 challenges; remembers the last good Authorization header for later requests.

    `scope` is what the whole session needs (e.g. `repository:team/model:pull,push`): asking for
    it with the challenge's own scope gets one token for every request of a push.
    """

    def __init__(
        self,
        registry: str,
        credentials: Credentials | None,
        *,
        scope: str | None,
        fetch_token: TokenFetcher,
        login_hint: str,
    ) -> None:
        self.registry = registry
        self.credentials = credentials
        self.scope = scope
        self._fetch = fetch_token
        self._login_hint = login_hint
        self._header: str | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._header:
            request.headers["Authorization"] = self._header
        response = yield request
        if response.status_code != 401:
            return
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        self._header = self._answer(challenge)
        request.headers["Authorization"] = self._header
        response = yield request
        if response.status_code == 401:
            retry = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            raise self._refused(retry.params.get("error") == "insufficient_scope")

    def _answer(self, challenge: Challenge) -> str:
        if challenge.scheme == "basic":
            if self.credentials is None:
                raise self._refused(False)
            return basic_header(self.credentials)
        if challenge.scheme == "bearer" and challenge.params.get("realm"):
            return "Bearer " + self._token(challenge)
        raise CheckpointError(
            f"registry {self.registry} asks for an authentication scheme bei does not speak: "
            f"{challenge.scheme or '(none)'}",
            hint="bei speaks Basic and Bearer (token) registry auth",
        )

    def _token(self, challenge: Challenge) -> str:
        scopes = [s for s in (challenge.params.get("scope"), self.scope) if s]
        params: list[tuple[str, str | int | float | bool | None]] = []
        if "service" in challenge.params:
            params.append(("service", challenge.params["service"]))
        params += [("scope", s) for s in dict.fromkeys(scopes)]
        request = httpx.Request("GET", challenge.params["realm"], params=params)
        if self.credentials is not None:
            request.headers["Authorization"] = basic_header(self.credentials)
        try:
            response = self._fetch(request)
        except httpx.TransportError as exc:
            raise CheckpointError(
                f"cannot reach the token service of {self.registry} ({request.url.host}): "
                f"{type(exc).__name__}"
            ) from exc
        if response.status_code in (401, 403):
            raise self._refused(False)
        if response.status_code != 200:
            raise CheckpointError(
                f"the token service of {self.registry} answered HTTP {response.status_code}"
            )
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise CheckpointError(f"the token service of {self.registry} returned no token")
        return token

    def _refused(self, insufficient_scope: bool) -> CredentialsError:
        if self.credentials is None:
            return CredentialsError(
                f"registry {self.registry} requires credentials and none were found",
                hint=self._login_hint,
            )
        who = f"user {self.credentials.username!r} (from {self.credentials.source})"
        if insufficient_scope:
            return CredentialsError(
                f"registry {self.registry} denied {who} access ({self.scope or 'this repository'})",
                hint="check the account's permissions on the repository",
            )
        return CredentialsError(
            f"registry {self.registry} rejected the credentials of {who}",
            hint=f"check the password that came from {self.credentials.source}, or run `bei "
            f"login {self.registry}` again (flags win over env {ENV_USERNAME}/{ENV_PASSWORD}, "
            "which win over the docker config)",
        )
