"""API keys from the config's `bei.api_key_secret`, and the default route, through real
`bei build` / `bei serve` processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import ServerProcess, bei, build_artifact

pytestmark = pytest.mark.integration

AUTH_YAML = "secrets:\n  bei_api_key: null\nbei:\n  api_key_secret: bei_api_key\n"


@pytest.fixture(scope="module")
def keyed_artifact(tmp_path_factory: pytest.TempPathFactory, hub_env: dict[str, str]) -> Path:
    return build_artifact(tmp_path_factory, hub_env, AUTH_YAML)


@pytest.fixture(scope="module")
def keyed_server(keyed_artifact: Path, hub_env: dict[str, str]) -> Iterator[ServerProcess]:
    server = ServerProcess(keyed_artifact, {**hub_env, "BEI_API_KEY": "s3cret-key"})
    yield server
    server.stop()


def test_api_key_from_the_configured_secret(keyed_server: ServerProcess) -> None:
    url = f"{keyed_server.url}/v1/embeddings"
    body = {"input": "hello"}
    missing = httpx.post(url, json=body)
    assert missing.status_code == 401 and missing.json()["error"]["type"]
    wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    for scheme in ("Bearer", "Api-Key"):
        ok = httpx.post(url, json=body, headers={"Authorization": f"{scheme} s3cret-key"})
        assert ok.status_code == 200, (scheme, ok.text)
    assert httpx.get(f"{keyed_server.url}/health").status_code == 200  # stays open


def test_missing_api_key_secret_fails_at_start(
    keyed_artifact: Path, hub_env: dict[str, str], tmp_path: Path
) -> None:
    result = bei(
        "serve", str(keyed_artifact), "--port", "1", "--secrets-dir", str(tmp_path), env=hub_env
    )
    assert result.returncode == 3, result.stderr
    assert "bei_api_key" in result.stderr and "s3cret" not in result.stderr


def test_root_route_serves_the_default_route(minilm_server: ServerProcess) -> None:
    response = httpx.post(f"{minilm_server.url}/", json={"input": "hello"})
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "list"


def test_bad_config_exits_2_with_dotted_path(tmp_path: Path, hub_env: dict[str, str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "trt_llm:\n  build:\n    base_model: encoder_bert\n    max_num_tokens: '16384'\n"
        "    checkpoint_repository: {source: HF, repo: sentence-transformers/all-MiniLM-L6-v2}\n"
    )
    result = bei("build", str(config), env=hub_env)
    assert result.returncode == 2
    assert "trt_llm.build.max_num_tokens" in result.stderr
