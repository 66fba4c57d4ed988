"""Real configs name a GPU: `bei build` on this CPU-only machine writes a cuda artifact for it
whose manifest and gate say what it is, serves it here on the CPU with one warning, and `bei
deploy --render` accepts it for that GPU. MiniLM (encoder_bert) and a tiny Qwen3 (encoder) for
L4, H100, H100 + fp8 and B200 + fp4; `--target cpu` builds the same config for a CPU."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from bei_cli.hardware import host_has_native_bf16
from tests.fixtures.causal import make_tiny_causal_embedder
from tests.fixtures.models import minilm_dir
from tests.integration.conftest import ServerProcess, bei

pytestmark = pytest.mark.integration

TEXTS = ["What is Baseten?", "An embedding is a vector. " * 20, "日本語のテキストです。"]
IMAGE = "registry.example.com/team/model@sha256:" + "0123456789abcdef" * 4
# target name -> (accelerator, quantization_type, artifact dtype per base model, gate floor).
# The floors of the quantized rows are written in the config, as a user must: MiniLM (384 wide)
# measures ~0.99 as FP8 GEMMs and ~0.88 as NVFP4 GEMMs (docs/quantization.md), below the
# default 0.99 / 0.98; no_quant keeps the default 0.999.
TARGETS = {
    "L4": ("L4", "no_quant", {"encoder_bert": "float16", "encoder": "bfloat16"}, None),
    "H100": ("H100", "no_quant", {"encoder_bert": "float16", "encoder": "bfloat16"}, None),
    "H100-fp8": ("H100", "fp8", {"encoder_bert": "bfloat16", "encoder": "bfloat16"}, 0.98),
    "B200-fp4": ("B200", "fp4", {"encoder_bert": "bfloat16", "encoder": "bfloat16"}, 0.85),
}


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_causal_embedder(tmp_path_factory.mktemp("qwen3") / "tiny-qwen3", "qwen3")


def gpu_config(
    model_dir: Path, base_model: str, accelerator: str, quantization: str, floor: float | None
) -> str:
    return (
        f"model_name: {model_dir.name}-{accelerator.lower()}\n"
        f"resources: {{accelerator: {accelerator}, use_gpu: true}}\n"
        f"trt_llm:\n  build:\n    base_model: {base_model}\n"
        f"    quantization_type: {quantization}\n"
        f"    checkpoint_repository: {{source: LOCAL, repo: {model_dir}}}\n"
        + ("" if floor is None else f"bei: {{accuracy_floor: {floor}}}\n")
    )


def build(tmp_path: Path, env: dict[str, str], config: str, *args: str) -> tuple[Path, str]:
    (tmp_path / "config.yaml").write_text(config)
    out = tmp_path / "artifact"
    result = bei(
        "build", str(tmp_path / "config.yaml"), "-o", str(out), "--no-image", *args, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result.stderr


def served(artifact: Path, env: dict[str, str], texts: list[str] = TEXTS) -> tuple[np.ndarray, str]:
    server = ServerProcess(artifact, env)
    try:
        body = {"input": texts, "model": "m"}
        response = httpx.post(f"{server.url}/v1/embeddings", json=body, timeout=120)
        assert response.status_code == 200, response.text
        rows = np.array([row["embedding"] for row in response.json()["data"]])
    finally:
        server.stop()
    return rows, server.log.read_text()


def rendered(artifact: Path, env: dict[str, str], tmp_path: Path) -> dict[str, object]:
    out = tmp_path / "k8s"
    result = bei("deploy", str(artifact), "--render", "--image", IMAGE, "-o", str(out), env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    import yaml

    docs = {}
    for path in sorted(out.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[doc["kind"]] = doc
    return docs


def check_cuda_artifact(
    artifact: Path, log: str, accelerator: str, quantization: str, dtype: str
) -> dict[str, object]:
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert (manifest["device_kind"], manifest["accelerator"]) == ("cuda", accelerator)
    assert (manifest["quantization"], manifest["dtype"]) == (quantization, dtype)
    arithmetic = manifest["accuracy"]["arithmetic"]
    assert f"emulated for {accelerator} on the build machine's CPU" in arithmetic
    if quantization != "no_quant":
        assert f"{quantization[:3].upper()} GEMMs" in arithmetic
    assert f"building for {accelerator} on a machine without a GPU" in log
    return manifest


# MiniLM's NVFP4 gate emulates every FP4 GEMM on the CPU (~3-4 min here): slow; the tiny Qwen3
# below covers the fp4 build in the default suite.
MINILM_TARGETS = [
    pytest.param(t, marks=pytest.mark.slow) if t == "B200-fp4" else t for t in sorted(TARGETS)
]


@pytest.mark.parametrize("target", MINILM_TARGETS)
def test_minilm_for_each_gpu(
    target: str,
    tmp_path: Path,
    hub_env: dict[str, str],
    reference_model,  # type: ignore[no-untyped-def]
) -> None:
    accelerator, quantization, dtypes, floor = TARGETS[target]
    config = gpu_config(minilm_dir(), "encoder_bert", accelerator, quantization, floor)
    artifact, log = build(tmp_path, hub_env, config)
    check_cuda_artifact(artifact, log, accelerator, quantization, dtypes["encoder_bert"])
    rows, server_log = served(artifact, hub_env)
    assert f"built for {accelerator}" in server_log and "serving it on the CPU" in server_log
    want = reference_model.encode(TEXTS, normalize_embeddings=True)
    cosines = np.sum(rows * want, axis=1) / np.linalg.norm(rows, axis=1)
    # no_quant serves the checkpoint's fp32 weights in fp32 here; fp8/fp4 their dequantized ones
    assert cosines.min() >= (0.99999 if floor is None else floor), cosines
    docs = rendered(artifact, hub_env, tmp_path)
    pod = docs["Deployment"]["spec"]["template"]["spec"]  # type: ignore[index]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert accelerator in pod["nodeSelector"]["nvidia.com/gpu.product"]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_tiny_qwen3_for_each_gpu(
    target: str, qwen3: Path, tmp_path: Path, hub_env: dict[str, str]
) -> None:
    accelerator, quantization, dtypes, floor = TARGETS[target]
    config = gpu_config(qwen3, "encoder", accelerator, quantization, floor)
    artifact, log = build(tmp_path, hub_env, config)
    check_cuda_artifact(artifact, log, accelerator, quantization, dtypes["encoder"])
    short = [text[:100] for text in TEXTS]  # the tiny model takes 128 tokens
    rows, _ = served(artifact, hub_env, short)
    assert rows.shape[0] == len(short) and np.isfinite(rows).all()


def test_target_cpu_builds_the_same_config_for_a_cpu(
    tmp_path: Path, hub_env: dict[str, str]
) -> None:
    config = gpu_config(minilm_dir(), "encoder_bert", "L4", "no_quant", None)
    config += "bei: {engine: torch}\n"
    artifact, log = build(tmp_path, hub_env, config, "--target", "cpu")
    assert "--target cpu replaces resources.accelerator (L4)" in log
    manifest = json.loads((artifact / "manifest.json").read_text())
    # The CPU rule, decided on this CPU: bf16 where it is native, else float32.
    cpu_dtype = "bfloat16" if host_has_native_bf16() else "float32"
    assert (manifest["device_kind"], manifest["dtype"], manifest.get("accelerator")) == (
        "cpu",
        cpu_dtype,
        None,
    )
    docs = rendered(artifact, hub_env, tmp_path)  # the config next to it says: no GPU
    pod = docs["Deployment"]["spec"]["template"]["spec"]  # type: ignore[index]
    assert "nodeSelector" not in pod and "nvidia.com/gpu" not in str(pod["containers"])
