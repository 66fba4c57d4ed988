"""manifest.json: round trip, determinism, and clear ArtifactErrors for anything else."""

from __future__ import annotations

import json

import pytest

from bei_cli import __version__
from bei_cli.engine.manifest import FileRecord, Limits, Manifest, SourceRecord
from bei_cli.errors import ArtifactError
from tests.unit.engine.helpers import tiny_profile

LIMITS = Limits(
    max_num_tokens=16384,
    max_batch_size=64,
    max_seq_len=128,
    max_client_batch_size=32,
    max_concurrent_requests=512,
    auto_truncate=False,
)


def manifest() -> Manifest:
    return Manifest(
        engine="torch",
        dtype="float32",
        device_kind="cpu",
        quantization="no_quant",
        profile=tiny_profile("mean", dense_out=16, prompts={"query": "q: "}),
        limits=LIMITS,
        default_route="/v1/embeddings",
        served_model_name="tiny",
        source=SourceRecord(source="HF", repo="org/tiny", revision="abc123"),
        files=(
            FileRecord("model/a.json", 3, "00" * 32),
            FileRecord("model/b.safetensors", 10, "ff" * 32),
        ),
    )


def test_round_trip_is_exact() -> None:
    original = manifest()
    assert Manifest.from_json(original.to_json()) == original
    assert original.bei_version == __version__ and original.format_version == 1


def test_json_is_deterministic_and_sorted() -> None:
    text = manifest().to_json()
    assert text == manifest().to_json()
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data["files"]["model/b.safetensors"] == {"sha256": "ff" * 32, "size": 10}
    assert data["profile"]["dense"][0]["path"] == "2_Dense"


@pytest.mark.parametrize("version", [0, 2, None, "1"])
def test_other_format_versions_are_refused(version: object) -> None:
    data = json.loads(manifest().to_json())
    data["format_version"] = version
    with pytest.raises(ArtifactError, match="format_version") as err:
        Manifest.from_json(json.dumps(data))
    assert err.value.hint and "bei build" in err.value.hint


@pytest.mark.parametrize("key", ["engine", "profile", "limits", "dtype", "bei_version", "source"])
def test_missing_keys_are_named(key: str) -> None:
    data = json.loads(manifest().to_json())
    del data[key]
    with pytest.raises(ArtifactError, match=key):
        Manifest.from_json(json.dumps(data))


def test_missing_limit_is_named() -> None:
    data = json.loads(manifest().to_json())
    del data["limits"]["max_num_tokens"]
    with pytest.raises(ArtifactError, match="max_num_tokens"):
        Manifest.from_json(json.dumps(data))


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"format_version": 1, "engine": 5}'])
def test_malformed_manifests(text: str) -> None:
    with pytest.raises(ArtifactError):
        Manifest.from_json(text)


def test_malformed_profile_is_an_artifact_error() -> None:
    data = json.loads(manifest().to_json())
    data["profile"]["no_such_field"] = 1
    with pytest.raises(ArtifactError, match="malformed"):
        Manifest.from_json(json.dumps(data))
