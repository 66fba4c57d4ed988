"""A fake-engine artifact and its config on disk: what `bei deploy --render` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bei_cli.config.load import LoadedConfig, load_config
from bei_cli.engine.artifact import read_manifest, write_manifest
from bei_cli.engine.manifest import Limits, Manifest, SourceRecord
from tests.fixtures.configs import config_dict
from tests.fixtures.models import MINILM_PROFILE

IMAGE = "registry.example.com/team/minilm:1.0@sha256:" + "ab" * 32


def write_build(
    root: Path,
    *,
    accelerator: str | None = None,
    api_key_secret: str | None = None,
    engine: str = "fake",
    **top_level: Any,
) -> Path:
    """BUILD_DIR with manifest.json (no model files: rendering never reads them) + config.yaml."""
    root.mkdir(parents=True, exist_ok=True)
    bei: dict[str, Any] = {"engine": engine}
    if api_key_secret:
        bei["api_key_secret"] = api_key_secret
        top_level["secrets"] = {api_key_secret: None}
    document = config_dict(accelerator=accelerator, bei=bei, **top_level)
    (root / "config.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    # What `bei build` writes: a GPU engine for a GPU config is a cuda artifact for that GPU;
    # an onnx engine is always a CPU artifact (a deliberately mismatched pair with a GPU config).
    gpu = accelerator.split(":")[0] if accelerator and engine != "onnx" else None
    manifest = Manifest(
        engine=engine,
        dtype="float16" if gpu else "float32",
        device_kind="cuda" if gpu else "cpu",
        accelerator=gpu,
        quantization="no_quant",
        profile=MINILM_PROFILE,
        limits=Limits(
            max_num_tokens=16384,
            max_batch_size=128,
            max_seq_len=256,
            max_client_batch_size=1024,
            max_concurrent_requests=2048,
            auto_truncate=True,
        ),
        default_route="/v1/embeddings",
        served_model_name="test-model",
        source=SourceRecord(source="HF", repo="sentence-transformers/all-MiniLM-L6-v2"),
        api_key_secret=api_key_secret,
    )
    write_manifest(root, manifest)
    return root


def load_build(root: Path) -> tuple[LoadedConfig, Manifest]:
    return load_config(root / "config.yaml"), read_manifest(root)
