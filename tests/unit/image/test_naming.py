"""The one image naming rule: the checkpoint repository's last part, never the long model_name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bei_cli.engine.artifact import read_manifest
from bei_cli.engine.manifest import SourceRecord
from bei_cli.image.naming import image_name
from tests.fixtures.images import write_fake_artifact


@pytest.mark.parametrize(
    ("source", "repo", "expected"),
    [
        ("HF", "sentence-transformers/all-MiniLM-L6-v2", "all-minilm-l6-v2"),
        ("LOCAL", "/models/E5 small/", "e5-small"),
        ("S3", "s3://bucket/prefix/bge_m3", "bge_m3"),
        ("LOCAL", "/", "test-model"),  # nothing usable: the served model name
    ],
)
def test_image_name_is_the_checkpoint_repository_tail(
    tmp_path: Path, source: str, repo: str, expected: str
) -> None:
    manifest = read_manifest(write_fake_artifact(tmp_path / "a"))
    manifest = dataclasses.replace(
        manifest, source=SourceRecord(source, repo), served_model_name="Test Model"
    )
    assert image_name(manifest) == expected
