"""One typed Limits from the build plan to the manifest to the server and its queue: the values
the config set are the ones the batcher batches by and /info reports."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bei_cli import pipeline
from bei_cli.config import load_config_text
from bei_cli.engine.artifact import MODEL_DIR, read_manifest, record_files, write_manifest
from bei_cli.engine.limits import Limits
from bei_cli.engine.manifest import Manifest, SourceRecord
from bei_cli.errors import ArtifactError
from bei_cli.server.launch import ServeOptions, app_from_artifact
from tests.fixtures.configs import config_yaml
from tests.fixtures.models import copy_tokenizer, make_tiny_sentence_transformer


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Limits:
    model_dir = make_tiny_sentence_transformer(tmp_path_factory.mktemp("limits") / "tiny-st")
    text = config_yaml(
        source="LOCAL",
        repo=str(model_dir),
        revision=None,
        accelerator=None,
        build={"max_num_tokens": 2048, "max_batch_size": 2},
    )
    loaded = load_config_text(text, base_dir=model_dir.parent)
    profile = pipeline.inspect(loaded, model_dir)
    return pipeline.plan_artifact(loaded.config, profile).limits


def fake_artifact(root: Path, limits: Limits) -> Path:
    from tests.unit.server.support import make_profile

    copy_tokenizer(root / MODEL_DIR)
    manifest = Manifest(
        engine="fake",
        dtype="float32",
        device_kind="cpu",
        quantization="no_quant",
        profile=make_profile(max_seq_len=limits.max_seq_len),
        limits=limits,
        default_route="/embed",
        served_model_name="m",
        source=SourceRecord(source="LOCAL", repo="/nowhere"),
        files=record_files(root),
    )
    write_manifest(root, manifest)
    return root


def test_the_plan_makes_one_typed_limits(planned: Limits) -> None:
    assert isinstance(planned, Limits)
    assert (planned.max_num_tokens, planned.max_batch_size) == (2048, 2)
    assert planned.max_seq_len <= planned.max_num_tokens


def test_limits_round_trip_from_plan_to_manifest_to_the_queue(
    planned: Limits, tmp_path: Path
) -> None:
    root = fake_artifact(tmp_path, planned)
    on_disk = json.loads((root / "manifest.json").read_text())["limits"]
    assert on_disk == dataclasses.asdict(planned)  # the manifest format is unchanged
    assert read_manifest(root).limits == planned
    app, _ = app_from_artifact(root, ServeOptions())
    with TestClient(app) as client:
        info = client.get("/info").json()
        assert (info["max_batch_tokens"], info["max_batch_requests"]) == (2048, 2)
        assert info["max_input_length"] == planned.max_seq_len
        assert client.post("/embed", json={"inputs": ["a", "b", "c"]}).status_code == 200
        metrics = client.get("/metrics").text
    sizes = {
        sample.labels["le"]: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "bei_batch_size_bucket"
    }
    # Three inputs in batches of at most max_batch_size=2: two batches, none above 2.
    assert sizes["+Inf"] == 2 and sizes["2.0"] == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_batch_size", 0), ("max_num_tokens", "many"), ("auto_truncate", "yes")],
)
def test_a_manifest_with_impossible_limits_is_refused(
    planned: Limits, tmp_path: Path, field: str, value: object
) -> None:
    root = fake_artifact(tmp_path, planned)
    data = json.loads((root / "manifest.json").read_text())
    data["limits"][field] = value
    (root / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=field):
        read_manifest(root)


def test_limits_refuse_a_longest_input_over_the_batch_budget() -> None:
    with pytest.raises(ValueError, match="max_seq_len"):
        Limits(128, 8, 256, 32, 64, True)
