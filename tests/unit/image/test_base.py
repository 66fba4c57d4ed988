from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from bei_cli.errors import BuildError
from bei_cli.image.base import base_labels, check_base_runs, load_base, reference_kind


@pytest.mark.parametrize(
    ("reference", "kind", "rest"),
    [
        ("oci:/x/layout:cpu-slim", "oci", "/x/layout:cpu-slim"),
        ("oci-archive:/x/base.tar", "oci-archive", "/x/base.tar"),
        ("docker-archive:base.tar", "docker-archive", "base.tar"),
        ("localhost:5000/bei/base:cpu", "registry", "localhost:5000/bei/base:cpu"),
        ("ghcr.io/org/bei-base:cpu-slim", "registry", "ghcr.io/org/bei-base:cpu-slim"),
    ],
)
def test_reference_kinds(reference: str, kind: str, rest: str) -> None:
    assert reference_kind(reference) == (kind, rest)


def test_oci_layout_by_tag_and_oci_archive(base_ref: str, tmp_path: Path) -> None:
    base = load_base(base_ref, tmp_path / "s1")
    assert base.engines == frozenset({"onnx", "fake"}) and len(base.layers.blobs) == 1
    layout = Path(base_ref.split(":")[1])
    with pytest.raises(BuildError, match="no single image tagged nope"):
        load_base(f"oci:{layout}:nope", tmp_path / "s2")
    archive = tmp_path / "base.tar"
    with tarfile.open(archive, "w") as tar:
        for path in sorted(layout.rglob("*")):
            tar.add(path, arcname=path.relative_to(layout).as_posix(), recursive=False)
    from_archive = load_base(f"oci-archive:{archive}:tiny", tmp_path / "s3")
    assert from_archive.config == base.config
    assert [b.digest for b in from_archive.layers.blobs] == [b.digest for b in base.layers.blobs]


def test_engine_check_only_where_the_base_declares(base_ref: str, tmp_path: Path) -> None:
    base = load_base(base_ref, tmp_path)
    check_base_runs(base, "onnx", "cpu")
    with pytest.raises(BuildError, match="not torch"):
        check_base_runs(base, "torch", "cpu")
    with pytest.raises(BuildError, match="cuda artifact"):
        check_base_runs(base, "onnx", "cuda")
    undeclared = type(base)(base.reference, {"config": {"Labels": {}}}, base.layers)
    check_base_runs(undeclared, "torch", "cuda")  # a foreign base: nothing to check against


def test_base_labels_of_a_layout(base_ref: str, tmp_path: Path) -> None:
    labels = base_labels(base_ref, tmp_path)
    assert labels["io.bei.base.engines"] == "onnx,fake"
    assert labels["io.bei.base.devices"] == "cpu"
