"""Torch artifacts become images on the real `cpu` base (torch CPU wheel, built once into
<repo>/.ci/base-image/<key>/cpu/) and serve from the image's own filesystem.

A tiny generated cross-encoder and the real all-MiniLM-L6-v2 (torch engine, float32 pinned) are
built by `bei build CONFIG -o DIR` with no --base: the base comes from the per-user base cache
(BEI_BASE_CACHE, holding the cpu base). Each image is unpacked by umoci into an OCI runtime
bundle and run by runc with the image's own entrypoint, user and environment (host network, so
the test reaches it on 127.0.0.1); scores and vectors match sentence-transformers. A torch
artifact offered the cpu-slim base is refused before any build work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.fixtures.heads import RERANK_LABELS, SEQUENCE, make_tiny_head_model
from tests.fixtures.images import cached_base, write_tiny_base
from tests.fixtures.models import minilm_dir
from tests.integration.conftest import bei, free_port, local_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.geteuid() != 0 or not all(shutil.which(t) for t in ("debootstrap", "umoci", "runc")),
        reason="needs root, debootstrap, umoci and runc",
    ),
]
QUERY = "Which city is the capital of Germany?"
DOCS = [
    "Berlin is the capital and largest city of Germany.",
    "Bananas are rich in potassium.",
    "Germany's capital, Berlin, has 3.7 million inhabitants.",
]
TEXTS = ["hello world", "The quick brown fox jumps over the lazy dog.", "Ünïcödé café"]


@pytest.fixture(scope="module")
def base_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A per-user base cache holding the real cpu base (a link to the CI-cached layout)."""
    root = tmp_path_factory.mktemp("bases")
    (root / "cpu").symlink_to(cached_base("cpu"))
    return root


def build_env(base_cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BEI_", "HF_"))}
    return env | {"BEI_BASE_CACHE": str(base_cache), "HF_HUB_OFFLINE": "1"}


def build_image(work: Path, config_yaml: str, env: dict[str, str]) -> Path:
    (work / "config.yaml").write_text(config_yaml)
    artifact = work / "artifact"
    built = bei("build", str(work / "config.yaml"), "-o", str(artifact), env=env)
    assert built.returncode == 0, built.stderr[-3000:]
    assert f"image: base oci:{env['BEI_BASE_CACHE']}/cpu:cpu" in built.stderr
    return artifact / "image"


@contextmanager
def run_image(layout: Path, work: Path) -> Iterator[str]:
    """Unpack the image with umoci and run it with runc, as the image config says (entrypoint,
    user 10001, env) but on the host network; yield its URL, then stop and delete it."""
    bundle = work / "bundle"
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    spec_path = bundle / "config.json"
    spec = json.loads(spec_path.read_text())
    assert spec["process"]["user"]["uid"] == 10001
    assert spec["process"]["args"][:3] == ["/opt/bei/bin/bei", "serve", "/opt/bei/artifact"]
    port = free_port()
    spec["process"]["args"][3:] = ["--host", "127.0.0.1", "--port", str(port)]
    spec["process"]["terminal"] = False
    namespaces = spec["linux"]["namespaces"]
    spec["linux"]["namespaces"] = [n for n in namespaces if n["type"] != "network"]
    spec_path.write_text(json.dumps(spec))
    name = f"bei-cpu-{os.getpid()}-{port}"
    log = (work / "container.log").open("wb")
    process = subprocess.Popen(
        ["runc", "run", "--bundle", str(bundle), name], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, work / "container.log")
        yield url
    finally:
        subprocess.run(["runc", "kill", name, "TERM"], capture_output=True, check=False)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            subprocess.run(["runc", "kill", name, "KILL"], capture_output=True, check=False)
            process.wait(timeout=30)
        subprocess.run(["runc", "delete", "-f", name], capture_output=True, check=False)
        log.close()
        shutil.rmtree(bundle, ignore_errors=True)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the container exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise AssertionError(f"the container was not healthy in 180 s: {log.read_text()[-3000:]}")


def test_tiny_reranker_image_on_the_cpu_base(base_cache: Path, tmp_path: Path) -> None:
    from sentence_transformers import CrossEncoder

    model = make_tiny_head_model(tmp_path / "reranker", architecture=SEQUENCE, labels=RERANK_LABELS)
    config = local_config(model, base_model="encoder_bert", route="/rerank")
    layout = build_image(
        tmp_path, config + "bei: {engine: torch, dtype: float32}\n", build_env(base_cache)
    )
    expected = CrossEncoder(str(model), device="cpu").predict([(QUERY, d) for d in DOCS])
    with run_image(layout, tmp_path) as url:
        body = {"query": QUERY, "texts": DOCS, "raw_scores": False}
        response = httpx.post(f"{url}/rerank", json=body, timeout=60)
    assert response.status_code == 200, response.text
    got = {item["index"]: item["score"] for item in response.json()}
    np.testing.assert_allclose([got[i] for i in range(len(DOCS))], expected, atol=1e-5)


def test_minilm_torch_image_on_the_cpu_base(  # type: ignore[no-untyped-def]
    base_cache: Path, tmp_path: Path, reference_model
) -> None:
    config = local_config(minilm_dir(), base_model="encoder_bert", route="/v1/embeddings")
    layout = build_image(
        tmp_path, config + "bei: {engine: torch, dtype: float32}\n", build_env(base_cache)
    )
    with run_image(layout, tmp_path) as url:
        response = httpx.post(f"{url}/v1/embeddings", json={"input": TEXTS}, timeout=60)
    assert response.status_code == 200, response.text
    got = np.array([item["embedding"] for item in response.json()["data"]])
    want = reference_model.encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_torch_artifact_is_refused_on_cpu_slim_before_any_build_work(tmp_path: Path) -> None:
    cache = tmp_path / "bases"
    write_tiny_base(cache / "cpu-slim", tag="cpu-slim", variant="cpu-slim")
    config = local_config(minilm_dir(), base_model="encoder_bert", route="/v1/embeddings")
    (tmp_path / "config.yaml").write_text(config + "bei: {engine: torch}\n")
    refused = bei(
        "build", str(tmp_path / "config.yaml"), "-o", str(tmp_path / "out"), env=build_env(cache)
    )
    assert refused.returncode == 5, refused.stderr
    assert "bei image base --variant cpu`" in refused.stderr
    assert not (tmp_path / "out").exists()  # refused before the engine was built
