"""Optional API-key check on model routes: `Authorization: Bearer KEY` (OpenAI SDK, performance
client, TEI) or `Authorization: Api-Key KEY` (Baseten's documented form). Health, metrics and
docs routes are mounted without it."""

from __future__ import annotations

import hmac

from fastapi import Request

from bei_cli.errors import AuthenticationError

SCHEMES = frozenset({"bearer", "api-key"})


class ApiKeyAuth:
    """A FastAPI dependency; with no key configured it lets everything through."""

    def __init__(self, api_key: str | None) -> None:
        self._key = api_key.encode() if api_key else None

    async def __call__(self, request: Request) -> None:
        # async: FastAPI runs a plain-def dependency in its thread pool, a thread hop on every
        # request even when no key is configured.
        self.check(request.headers.get("authorization", ""))

    @property
    def required(self) -> bool:
        return self._key is not None

    def check(self, authorization: str) -> None:
        """Raises AuthenticationError unless `authorization` (the header's value) holds the key."""
        if self._key is None:
            return
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() not in SCHEMES or not credential:
            raise AuthenticationError(
                "Missing API key.", hint="Send `Authorization: Bearer <key>`."
            )
        if not hmac.compare_digest(credential.strip().encode(), self._key):
            raise AuthenticationError("Invalid API key.")
