"""Shared image fixtures: a fake onnx artifact, a config naming a secret, a tiny base layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.images import write_config, write_fake_artifact, write_tiny_base


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    return write_fake_artifact(tmp_path / "build" / "tiny")


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def base_ref(tmp_path: Path) -> str:
    return write_tiny_base(tmp_path / "base")
