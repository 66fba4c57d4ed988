"""A base image pulled from a real docker-registry (htpasswd auth, plain HTTP allowed through
BEI_INSECURE_REGISTRIES): the image built on it carries the base's layers byte for byte and is
the same image as one built on the local layout of that base."""

from __future__ import annotations

from pathlib import Path

import pytest

from bei_cli.errors import CheckpointError
from bei_cli.image.build import build_image
from bei_cli.oci import read_layout
from bei_cli.registry import Credentials, open_client, plan_tags, push_image
from tests.fixtures.images import write_config, write_fake_artifact, write_tiny_base
from tests.fixtures.registry import start_registry

pytestmark = pytest.mark.integration


def test_base_from_a_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local_ref = write_tiny_base(tmp_path / "base")
    artifact = write_fake_artifact(tmp_path / "artifact")
    config = write_config(tmp_path)
    on_local = build_image(artifact, config, local_ref, source_date_epoch="0").manifest_digest
    with start_registry(tmp_path / "registry") as registry:
        image = read_layout(tmp_path / "base")
        creds = Credentials(registry.username, registry.password, "test")
        with open_client(
            registry.host, "bases/tiny", "pull,push", environ={}, credentials=creds, insecure=True
        ) as client:
            push_image(image, client, "bases/tiny", plan_tags(image.manifest_digest, publish=False))
        remote_ref = f"{registry.host}/bases/tiny:dev"
        monkeypatch.setenv("BEI_REGISTRY_USERNAME", registry.username)
        monkeypatch.setenv("BEI_REGISTRY_PASSWORD", registry.password)
        monkeypatch.delenv("BEI_INSECURE_REGISTRIES", raising=False)
        with pytest.raises(CheckpointError) as caught:  # plain HTTP is refused unless listed
            build_image(artifact, config, remote_ref, source_date_epoch="0")
        assert registry.password not in str(caught.value) + str(caught.value.hint)
        monkeypatch.setenv("BEI_INSECURE_REGISTRIES", registry.host)
        on_remote = build_image(artifact, config, remote_ref, source_date_epoch="0")
    assert on_remote.manifest_digest == on_local
