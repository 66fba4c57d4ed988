"""A real Truss config in, an image for its target out, served from the image's filesystem.

The bundled example config names an L4. Built `--target cpu` it becomes a torch or an onnx image
on the cpu / cpu-slim base, which `bei push` sends to a real registry; the pushed image is
copied back with skopeo, unpacked by umoci and run by runc, and its vectors equal
sentence-transformers'. Built with no flags it becomes a cuda image on the CUDA base (slow: the
base is 2.7 GiB), which also serves on this GPU-less machine: on the CPU, with one warning."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest

from bei_cli.hardware import host_has_native_bf16
from bei_cli.image.base_cache import cache_root
from tests.fixtures.heads import RERANK_LABELS, SEQUENCE, make_tiny_head_model
from tests.fixtures.images import cached_base
from tests.fixtures.registry import start_registry
from tests.integration.conftest import ROOT, bei
from tests.integration.test_image_cpu_torch import run_image
from tests.integration.test_minilm_http import BF16_COSINE
from tests.unit.engine.helpers import cosines

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.geteuid() != 0
        or not all(shutil.which(t) for t in ("debootstrap", "umoci", "runc", "skopeo")),
        reason="needs root, debootstrap, umoci, runc and skopeo",
    ),
]
EXAMPLE = ROOT / "examples" / "all-minilm-l6-v2" / "config.yaml"
TEXTS = ["hello world", "The quick brown fox jumps over the lazy dog.", "Ünïcödé café"]
# engine -> the base variant bei build takes for it on a CPU
CPU_BASES = {"torch": "cpu", "onnx": "cpu-slim"}


def env_with(hub_env: dict[str, str], bases: Path) -> dict[str, str]:
    return {k: v for k, v in hub_env.items() if not k.startswith("BEI_")} | {
        "BEI_BASE_CACHE": str(bases)
    }


def build(tmp_path: Path, env: dict[str, str], config: str, *args: str) -> tuple[Path, str]:
    (tmp_path / "config.yaml").write_text(config)
    artifact = tmp_path / "artifact"
    built = bei("build", str(tmp_path / "config.yaml"), "-o", str(artifact), *args, env=env)
    assert built.returncode == 0, built.stderr[-3000:]
    return artifact, built.stderr


def image_labels(layout: Path) -> dict[str, str]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":", 1)[1]
    manifest = json.loads((layout / "blobs" / "sha256" / digest).read_text())
    config_digest = manifest["config"]["digest"].split(":", 1)[1]
    config = json.loads((layout / "blobs" / "sha256" / config_digest).read_text())
    return dict(config["config"]["Labels"])


def embed(url: str) -> np.ndarray:
    response = httpx.post(f"{url}/v1/embeddings", json={"input": TEXTS}, timeout=120)
    assert response.status_code == 200, response.text
    return np.array([item["embedding"] for item in response.json()["data"]])


@pytest.mark.parametrize("engine", sorted(CPU_BASES))
def test_the_example_for_this_cpu_is_pushed_and_served_from_its_image(  # type: ignore[no-untyped-def]
    engine: str, tmp_path: Path, hub_env: dict[str, str], reference_model
) -> None:
    bases = tmp_path / "bases"
    bases.mkdir()
    variant = CPU_BASES[engine]
    (bases / variant).symlink_to(cached_base(variant))
    config = EXAMPLE.read_text() + f"bei: {{engine: {engine}}}\n"
    artifact, log = build(tmp_path, env_with(hub_env, bases), config, "--target", "cpu")
    assert f"image: base oci:{bases}/{variant}:{variant}" in log
    labels = image_labels(artifact / "image")
    assert (labels["io.bei.engine"], labels["io.bei.device"]) == (engine, "cpu")
    assert "io.bei.accelerator" not in labels
    with start_registry(tmp_path / "registry") as registry:
        push_env = hub_env | {
            "BEI_REGISTRY_USERNAME": registry.username,
            "BEI_REGISTRY_PASSWORD": registry.password,
        }
        target = f"{registry.host}/team/minilm-{engine}"
        pushed = bei("push", str(artifact), "--registry", target, "--insecure", env=push_env)
        assert pushed.returncode == 0, pushed.stderr
        pulled = tmp_path / "pulled"
        subprocess.run(
            ["skopeo", "copy", "--src-tls-verify=false",
             "--src-creds", f"{registry.username}:{registry.password}",
             f"docker://{target}:dev", f"oci:{pulled}:latest"],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    with run_image(pulled, tmp_path) as url:
        got = embed(url)
    want = reference_model.encode(TEXTS, normalize_embeddings=True)
    # The example pins no dtype: the build takes bf16 on a CPU with native bf16, else float32
    # (on onnx, float32 either way); bf16 is held to its own tolerance, float32 to 1e-5.
    dtype = labels["io.bei.dtype"]
    if dtype == "bfloat16":
        assert engine == "torch" and host_has_native_bf16()
        assert cosines(got, want).min() >= BF16_COSINE
    else:
        assert dtype == "float32"
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.fixture(scope="module")
def cuda_bases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base cache holding the CUDA base `bei image base --variant cuda` put in the user's."""
    cuda = cache_root(os.environ) / "cuda"
    if not (cuda / "index.json").is_file():
        pytest.skip(f"no CUDA base in {cuda.parent}: run `bei image base --variant cuda` (GBs)")
    bases = tmp_path_factory.mktemp("cuda-bases")
    (bases / "cuda").symlink_to(cuda)
    return bases


@pytest.mark.slow
def test_the_example_with_no_flags_is_a_cuda_image_that_serves_here(  # type: ignore[no-untyped-def]
    cuda_bases: Path, tmp_path: Path, hub_env: dict[str, str], reference_model
) -> None:
    artifact, log = build(tmp_path, env_with(hub_env, cuda_bases), EXAMPLE.read_text())
    assert f"image: base oci:{cuda_bases}/cuda:cuda" in log
    labels = image_labels(artifact / "image")
    assert (labels["io.bei.device"], labels["io.bei.accelerator"]) == ("cuda", "L4")
    assert (labels["io.bei.dtype"], labels["io.bei.base.variant"]) == ("float16", "cuda")
    with run_image(artifact / "image", tmp_path) as url:
        got = embed(url)
    container_log = (tmp_path / "container.log").read_text()
    assert "built for L4 (float16)" in container_log and "serving it on the CPU" in container_log
    want = reference_model.encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.slow
def test_a_tiny_reranker_for_l4_is_a_cuda_image(
    cuda_bases: Path, tmp_path: Path, hub_env: dict[str, str]
) -> None:
    model = make_tiny_head_model(tmp_path / "reranker", architecture=SEQUENCE, labels=RERANK_LABELS)
    config = (
        "model_name: tiny-reranker\nresources: {accelerator: L4, use_gpu: true}\n"
        "trt_llm:\n  build:\n    base_model: encoder_bert\n"
        f"    checkpoint_repository: {{source: LOCAL, repo: {model}}}\n"
        "  runtime:\n    webserver_default_route: /rerank\n"
    )
    artifact, _ = build(tmp_path, env_with(hub_env, cuda_bases), config)
    labels = image_labels(artifact / "image")
    assert (labels["io.bei.task"], labels["io.bei.device"]) == ("rerank", "cuda")
    assert labels["io.bei.accelerator"] == "L4"
