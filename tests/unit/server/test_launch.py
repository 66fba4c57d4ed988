"""From an engine artifact (fake engine, real MiniLM tokenizer) to a serving app."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bei_cli.engine.artifact import MODEL_DIR, read_manifest, record_files, write_manifest
from bei_cli.engine.manifest import Limits, Manifest, SourceRecord
from bei_cli.errors import ArtifactError, ConfigError
from bei_cli.server.launch import ServeOptions, app_from_artifact, settings_for
from tests.fixtures.models import copy_tokenizer
from tests.unit.server.support import DIM, expected_vector, make_profile


def fake_artifact(root: Path, max_seq_len: int = 64) -> Path:
    copy_tokenizer(root / MODEL_DIR)
    limits = Limits(
        max_num_tokens=1024,
        max_batch_size=8,
        max_seq_len=max_seq_len,
        max_client_batch_size=3,
        max_concurrent_requests=10,
        auto_truncate=False,
    )
    manifest = Manifest(
        engine="fake",
        dtype="float32",
        device_kind="cpu",
        quantization="no_quant",
        profile=make_profile(),
        limits=limits,
        default_route="/embed",
        served_model_name="my-model",
        source=SourceRecord(source="LOCAL", repo="/nowhere"),
        files=record_files(root),
    )
    write_manifest(root, manifest)
    return root


def test_the_manifest_decides_the_servers_settings(tmp_path: Path) -> None:
    app, settings = app_from_artifact(fake_artifact(tmp_path), ServeOptions(api_key="k"))
    assert settings.served_model_name == "my-model" and settings.default_route == "/embed"
    assert settings.max_client_batch_size == 3 and settings.auto_truncate is False
    headers = {"authorization": "Bearer k"}
    with TestClient(app) as client:
        info = client.get("/info", headers=headers).json()
        assert info["max_input_length"] == 64 and info["max_batch_requests"] == 8
        body = client.post("/v1/embeddings", json={"input": [[1, 2]]}, headers=headers).json()
        assert body["model"] == "my-model"
        np.testing.assert_allclose(body["data"][0]["embedding"], expected_vector([1, 2]), atol=1e-6)
        (vector,) = client.post("/", json={"inputs": [[3]]}, headers=headers).json()
        assert len(vector) == DIM
        too_many = client.post("/embed", json={"inputs": ["a"] * 4}, headers=headers)
        assert too_many.status_code == 413
        too_long = client.post("/embed", json={"inputs": "word " * 100}, headers=headers)
        assert too_long.status_code == 422


def test_a_damaged_artifact_is_refused(tmp_path: Path) -> None:
    root = fake_artifact(tmp_path)
    (root / MODEL_DIR / "vocab.txt").write_text("tampered")
    with pytest.raises(ArtifactError):
        app_from_artifact(root, ServeOptions())


def test_the_queue_wait_bound_comes_from_serve_options(tmp_path: Path) -> None:
    manifest = read_manifest(fake_artifact(tmp_path))
    assert settings_for(manifest, ServeOptions()).max_queue_wait_s == 10.0
    assert settings_for(manifest, ServeOptions(max_queue_wait_s=None)).max_queue_wait_s is None
    assert settings_for(manifest, ServeOptions(max_queue_wait_s=4.5)).max_queue_wait_s == 4.5
    with pytest.raises(ConfigError, match="max_queue_wait_s"):
        settings_for(manifest, ServeOptions(max_queue_wait_s=-1.0))
