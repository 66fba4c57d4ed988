from __future__ import annotations

from pathlib import Path

import pytest

from bei_cli.cli.push import find_layout, model_repository, parse_size
from bei_cli.errors import ArtifactError, ConfigError
from bei_cli.oci import Blob, add_to_index, blob_path, read_layout
from bei_cli.registry.push import TagPlan, plan_tags, version_tag
from tests.fixtures.images import write_fake_artifact
from tests.fixtures.oci_layouts import make_layout

DIGEST = "sha256:" + "0123456789ab" + "f" * 52


def test_dev_tag_without_publish():
    assert plan_tags(DIGEST, publish=False) == (TagPlan("dev", immutable=False),)


def test_publish_and_promote():
    assert version_tag(DIGEST) == "sha-0123456789ab"
    assert plan_tags(DIGEST, publish=True, promote=True) == (
        TagPlan("sha-0123456789ab", immutable=True),
        TagPlan("production", immutable=False),
    )
    assert plan_tags(DIGEST, publish=True, version="1.2.0", promote=True, environment="staging")[
        1
    ] == TagPlan("staging", immutable=False)


@pytest.mark.parametrize("kwargs", [{"promote": True}, {"version": "1.0"}])
def test_promote_and_version_need_publish(kwargs):
    with pytest.raises(ConfigError, match="needs --publish"):
        plan_tags(DIGEST, publish=False, **kwargs)


def test_parse_size():
    assert parse_size("16MiB") == 16 << 20
    assert parse_size("64KiB") == 64 << 10
    assert parse_size("1000") == 1000
    with pytest.raises(ConfigError):
        parse_size("0")


def test_read_layout_and_model_repository(tmp_path: Path):
    layout = make_layout(tmp_path / "build" / "image", model_name="My Model")
    image = read_layout(find_layout(tmp_path / "build"))
    assert image.manifest_digest == layout.manifest_digest
    assert [b.digest for b in image.layers.blobs] == list(layout.layer_digests)
    assert image.ref_name == "latest"
    assert model_repository(tmp_path / "build", image) == "my-model"
    write_fake_artifact(tmp_path / "build")  # a manifest whose checkpoint is org/tiny
    assert model_repository(tmp_path / "build", image) == "tiny"


def test_a_build_without_an_image_names_the_command_that_packages_it(tmp_path: Path) -> None:
    write_fake_artifact(tmp_path / "build")
    with pytest.raises(ArtifactError, match="holds no OCI image") as caught:
        find_layout(tmp_path / "build")
    assert f"bei image build {tmp_path / 'build'}" in str(caught.value.hint)


def test_truncated_blob_is_an_artifact_error(tmp_path: Path):
    layout = make_layout(tmp_path, layer_sizes=(1024,))
    path = blob_path(tmp_path, layout.layer_digests[0])
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ArtifactError, match="wrong size"):
        read_layout(tmp_path)
    with pytest.raises(ArtifactError, match="not an OCI image layout"):
        read_layout(tmp_path / "nowhere")


def test_add_to_index_replaces_the_same_ref(tmp_path: Path):
    first = make_layout(tmp_path, seed=1, layer_sizes=(10,))
    second = make_layout(tmp_path / "other", seed=2, layer_sizes=(10,))
    entry = read_layout(second.root)
    add_to_index(
        tmp_path,
        Blob(
            blob_path(tmp_path, entry.manifest_digest),
            entry.manifest_digest,
            len(entry.manifest_bytes),
            entry.media_type,
        ),
        "latest",
    )
    index = (tmp_path / "index.json").read_text()
    assert second.manifest_digest in index and first.manifest_digest not in index
