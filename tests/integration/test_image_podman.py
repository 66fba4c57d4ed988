"""Issue 6's acceptance path, end to end on 127.0.0.1: the real MiniLM (onnx engine) built by
`bei build --base` onto the real cpu-slim base (built once into <repo>/.ci/base-image/<key>/),
rebuilt to the same digest, pushed with `bei push --publish --promote` to a real docker-registry
with htpasswd auth, inspected with skopeo, pulled from the registry and run by podman, and its
/v1/embeddings compared with sentence-transformers. No secret reaches a layer, label or log."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.fixtures.images import (
    PODMAN_RUN_FLAGS,
    all_image_bytes,
    cached_slim_base,
    podman_storage,
)
from tests.fixtures.models import minilm_dir
from tests.fixtures.registry import start_registry
from tests.integration.conftest import bei, free_port, local_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.geteuid() != 0
        or not all(shutil.which(t) for t in ("podman", "debootstrap", "skopeo", "docker-registry")),
        reason="needs root, podman, debootstrap, skopeo and docker-registry",
    ),
]
TEXTS = ["hello world", "The quick brown fox jumps over the lazy dog.", "Ünïcödé café"]
HF_SECRET = "hf_NOTREALbutSECRET_41c9e2"  # planted in the build env; must never leak


def _wait_healthy(url: str, podman: list[str], name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.5)
    logs = subprocess.run([*podman, "logs", name], capture_output=True, text=True, check=False)
    raise AssertionError(f"container not healthy in {timeout}s: {logs.stdout}{logs.stderr}")


def _build(config: Path, artifact: Path, base: Path, env: dict[str, str]) -> str:
    built = bei(
        "build", str(config), "-o", str(artifact), "--base", f"oci:{base}:cpu-slim",
        "--format", "oci", "--format", "docker-archive", env=env,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert HF_SECRET not in built.stdout + built.stderr
    index = json.loads((artifact / "image" / "index.json").read_text())
    return str(index["manifests"][0]["digest"])


def test_minilm_image_build_push_pull_run(tmp_path: Path, reference_model) -> None:  # type: ignore[no-untyped-def]
    base = cached_slim_base()
    config = tmp_path / "config.yaml"
    config.write_text(
        local_config(minilm_dir(), base_model="encoder_bert", route="/v1/embeddings")
        + "secrets: {hf_access_token: null}\nbei: {engine: onnx}\n"
    )
    artifact = tmp_path / "minilm"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEI_")}
    env |= {"SOURCE_DATE_EPOCH": "1700000000", "HF_ACCESS_TOKEN": HF_SECRET}
    digest = _build(config, artifact, base, env)
    assert _build(config, artifact, base, env) == digest  # rebuilt, nothing changed: same digest
    image_bytes = all_image_bytes(artifact / "image")
    assert HF_SECRET.encode() not in image_bytes
    assert (artifact / "image.tar").stat().st_size > 0

    with start_registry(tmp_path / "registry") as registry, podman_storage() as podman:
        assert registry.password.encode() not in image_bytes
        push_env = env | {
            "BEI_REGISTRY_USERNAME": registry.username,
            "BEI_REGISTRY_PASSWORD": registry.password,
        }
        target = f"{registry.host}/team/minilm"
        pushed = bei(
            "push", str(artifact), "--registry", target, "--publish", "--version", "v1",
            "--promote", "--insecure", env=push_env,
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr
        assert f"{target}:v1@{digest}" in pushed.stdout
        assert f"{target}:production@{digest}" in pushed.stdout
        assert registry.password not in pushed.stdout + pushed.stderr
        again = bei("push", str(artifact), "--registry", target, "--insecure", env=push_env)
        assert again.returncode == 0, again.stderr
        assert "pushed 0 blobs" in again.stderr, again.stderr

        creds = f"{registry.username}:{registry.password}"
        inspected = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", "--creds", creds,
             f"docker://{target}:production"],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        info = json.loads(inspected.stdout)
        assert info["Digest"] == digest
        labels = info["Labels"]
        assert labels["io.bei.engine"] == "onnx"
        assert labels["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
        raw = subprocess.run(
            ["skopeo", "inspect", "--config", "--tls-verify=false", "--creds", creds,
             f"docker://{target}:v1"],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        image_config = json.loads(raw.stdout)["config"]
        assert image_config["User"] == "10001:10001"
        assert image_config["Entrypoint"][-2:] == ["serve", "/opt/bei/artifact"]

        pulled = subprocess.run(
            [*podman, "pull", "-q", "--tls-verify=false", "--creds", creds, f"{target}:production"],
            capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        image_id = pulled.stdout.strip().splitlines()[-1]
        port, name = free_port(), f"bei-test-{os.getpid()}"
        subprocess.run(
            [*podman, "run", "-d", "--name", name, *PODMAN_RUN_FLAGS, image_id,
             "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, podman, name)
            response = httpx.post(f"{url}/v1/embeddings", json={"input": TEXTS}, timeout=60)
            assert response.status_code == 200, response.text
            got = np.array([d["embedding"] for d in response.json()["data"]])
            want = reference_model.encode(TEXTS, normalize_embeddings=True)
            cosines = (
                (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
            )
            assert cosines.min() >= 0.99999, cosines
            user = subprocess.run([*podman, "exec", name, "id", "-u"], capture_output=True,
                                  text=True, check=True)  # fmt: skip
            assert user.stdout.strip() == "10001"
            logs = subprocess.run([*podman, "logs", name], capture_output=True, text=True)
            assert HF_SECRET not in logs.stdout + logs.stderr
        finally:
            subprocess.run([*podman, "stop", "-t", "10", name], capture_output=True, check=False)
            subprocess.run([*podman, "rm", "-f", name], capture_output=True, check=False)
