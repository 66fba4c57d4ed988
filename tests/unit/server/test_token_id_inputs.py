"""`ServerSettings.token_ids` (`bei serve --no-token-ids`): token-id inputs refused on every
embedding route with a 422 that names the cause, and left out of the OpenAPI document; text
inputs and /decode unchanged. The default accepts them, as OpenAI and TEI do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bei_cli.engine.artifact import read_manifest
from bei_cli.server.launch import ServeOptions, settings_for
from tests.integration.fake_servers import write_fake_model_artifact
from tests.unit.server.support import AppFactory

IDS = [101, 7592, 102]
# route -> a body whose input is token ids
ID_BODIES: dict[str, dict[str, Any]] = {
    "/v1/embeddings": {"input": IDS},
    "/embed": {"inputs": [IDS, IDS]},
    "/embed_all": {"inputs": IDS},
    "/v1/embeddings ": {"input": ["hello", IDS]},  # one id list among texts
}


@pytest.fixture
def refusing(make_app: AppFactory) -> Iterator[TestClient]:
    with TestClient(make_app(token_ids=False)) as client:
        yield client


@pytest.mark.parametrize("route", ID_BODIES)
def test_token_ids_are_refused_naming_the_cause(refusing: TestClient, route: str) -> None:
    reply = refusing.post(route.strip(), json=ID_BODIES[route])
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["param"] == ("input" if "/v1/" in route else "inputs")
    assert "--no-token-ids" in error["message"]
    assert "check_embedding_ctx_length=False" in error["message"]


def test_text_and_decode_still_served(refusing: TestClient) -> None:
    assert refusing.post("/v1/embeddings", json={"input": ["hello"]}).status_code == 200
    assert refusing.post("/embed_all", json={"inputs": "hello"}).status_code == 200
    assert refusing.post("/decode", json={"ids": IDS}).json() == ["hello"]


def input_schema(client: TestClient) -> dict[str, Any]:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    schema: dict[str, Any] = schemas["EmbeddingRequest"]["properties"]["input"]
    return schema


def test_openapi_offers_token_ids_only_where_accepted(
    refusing: TestClient, client: TestClient
) -> None:
    refused = input_schema(refusing)["anyOf"]
    assert {"not": {}} in refused and {"not": {}} in refused[-1]["items"]["anyOf"]
    assert not any(option.get("type") == "array" and "integer" in str(option) for option in refused)
    accepted = input_schema(client)["anyOf"]
    assert {"not": {}} not in accepted
    ids = next(o for o in accepted if o.get("type") == "array" and "integer" in str(o))
    assert ids["items"]["maximum"] == 30521  # MiniLM's vocabulary, as before


def test_the_default_accepts_them(client: TestClient) -> None:
    assert client.post("/v1/embeddings", json={"input": IDS}).status_code == 200
    assert client.post("/embed_all", json={"inputs": IDS}).status_code == 200


def test_the_serve_option_reaches_the_settings(tmp_path: Path) -> None:
    manifest = read_manifest(write_fake_model_artifact(tmp_path / "a", "embed"))
    assert settings_for(manifest, ServeOptions()).token_ids
    assert not settings_for(manifest, ServeOptions(token_ids=False)).token_ids
