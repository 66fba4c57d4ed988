"""The registry client against a real docker-registry: pull round trips (OCI, Docker schema2,
an index with several platforms), the registry's error JSON on a bad manifest, and bearer-token
auth end to end (registry with `auth: token`, our token service, the real CLI and skopeo)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bei_cli.errors import CheckpointError, CredentialsError
from bei_cli.oci import DOCKER_MANIFEST, INDEX_TYPE, blob_path, read_layout
from bei_cli.registry import Credentials, open_client, plan_tags, pull_image, push_image
from bei_cli.registry.client import RegistryClient
from tests.fixtures.oci_layouts import Layout, make_layout
from tests.fixtures.registry import PASSWORD, Registry, start_registry
from tests.integration.test_push_cli import ROOT, RUNNER, creds_env, skopeo_inspect

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with start_registry(tmp_path_factory.mktemp("registry")) as reg:
        yield reg


def creds(registry: Registry, password: str | None = None) -> Credentials:
    return Credentials(registry.username, password or registry.password, "test")


def client(registry: Registry, repository: str) -> RegistryClient:
    return open_client(
        registry.host,
        repository,
        "pull,push",
        environ={},
        credentials=creds(registry),
        insecure=True,
    )


def push(registry: Registry, layout: Layout, repository: str, chunk: int | None = 1 << 20):
    image = read_layout(layout.root)
    with client(registry, repository) as c:
        return push_image(
            image, c, repository, plan_tags(image.manifest_digest, publish=False), chunk_size=chunk
        )


def assert_same_blobs(source: Layout, pulled: Path) -> None:
    for digest in (source.manifest_digest, *source.blob_digests):
        assert blob_path(pulled, digest).read_bytes() == blob_path(source.root, digest).read_bytes()


def test_pull_round_trip_is_byte_identical(tmp_path: Path, registry: Registry):
    layout = make_layout(tmp_path / "src", seed=3)
    assert push(registry, layout, "rt/chunked").uploaded == 4
    dest = tmp_path / "pulled"
    digest = pull_image(
        f"{registry.host}/rt/chunked:dev", dest, credentials=creds(registry), insecure=True
    )
    assert digest == layout.manifest_digest
    assert_same_blobs(layout, dest)
    pulled = read_layout(dest)  # a valid layout, ready to be a base or pushed again
    assert pulled.manifest_digest == layout.manifest_digest and pulled.ref_name == "dev"
    # Monolithic upload (no chunks) lands the same image in another repository.
    assert push(registry, layout, "rt/monolithic", chunk=None).uploaded == 4
    again = pull_image(
        f"{registry.host}/rt/monolithic@{digest}",
        tmp_path / "p2",
        credentials=creds(registry),
        insecure=True,
    )
    assert again == digest


def test_pull_docker_schema2_from_an_index_picks_linux_amd64(tmp_path: Path, registry: Registry):
    amd = make_layout(tmp_path / "amd", seed=4, layer_sizes=(4096,))
    arm = make_layout(tmp_path / "arm", seed=5, layer_sizes=(4096,))
    docker_digests = {}
    with client(registry, "multi/base") as c:
        for name, layout in (("amd64", amd), ("arm64", arm)):
            push(registry, layout, "multi/base")
            manifest = json.loads(blob_path(layout.root, layout.manifest_digest).read_bytes())
            manifest["mediaType"] = DOCKER_MANIFEST
            manifest["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json"
            body = json.dumps(manifest).encode()
            docker_digests[name] = (c.put_manifest("multi/base", name, body, DOCKER_MANIFEST), body)
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX_TYPE,
            "manifests": [
                {
                    "mediaType": DOCKER_MANIFEST,
                    "digest": d,
                    "size": len(b),
                    "platform": {"os": "linux", "architecture": arch},
                }
                for arch, (d, b) in (
                    ("arm64", docker_digests["arm64"]),
                    ("amd64", docker_digests["amd64"]),
                )
            ],
        }
        c.put_manifest("multi/base", "latest", json.dumps(index).encode(), INDEX_TYPE)
    dest = tmp_path / "pulled"
    digest = pull_image(
        f"{registry.host}/multi/base", dest, credentials=creds(registry), insecure=True
    )
    assert digest == docker_digests["amd64"][0]
    assert blob_path(dest, digest).read_bytes() == docker_digests["amd64"][1]
    assert read_layout(dest).media_type == DOCKER_MANIFEST
    with pytest.raises(CheckpointError, match="no image for linux/s390x"):
        pull_image(
            f"{registry.host}/multi/base",
            tmp_path / "none",
            credentials=creds(registry),
            insecure=True,
            platform="linux/s390x",
        )


def test_bad_manifest_shows_the_registry_error_json(tmp_path: Path, registry: Registry):
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "0" * 64,
            "size": 2,
        },
        "layers": [],
    }
    with client(registry, "bad/manifest") as c, pytest.raises(CheckpointError) as err:
        c.put_manifest("bad/manifest", "dev", json.dumps(manifest).encode(), manifest["mediaType"])
    assert "HTTP 400" in err.value.message
    assert any("MANIFEST_BLOB_UNKNOWN" in line for line in err.value.details)


def test_wrong_password_is_not_retried(registry: Registry):
    with (
        open_client(
            registry.host,
            "x/y",
            "pull",
            environ={},
            insecure=True,
            credentials=creds(registry, "wrong"),
        ) as c,
        pytest.raises(CredentialsError) as err,
    ):
        c.ping()
    assert "test" in (err.value.hint or "") and PASSWORD not in str(err.value.hint)


def test_bearer_token_auth_end_to_end(tmp_path: Path):
    layout = make_layout(tmp_path / "src", seed=6)
    with start_registry(tmp_path / "token-registry", auth="token") as reg:
        args = [
            "push",
            str(layout.root),
            "--registry",
            f"{reg.host}/tok/model",
            "--insecure",
            "--publish",
            "--chunk-size",
            "1MiB",
        ]
        done = subprocess.run(
            [sys.executable, "-c", RUNNER, *args],
            env=creds_env(tmp_path, reg),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        assert PASSWORD not in done.stdout + done.stderr
        tag = "sha-" + layout.manifest_digest[7:19]
        assert skopeo_inspect(reg, f"tok/model:{tag}")["Digest"] == layout.manifest_digest
        pulled = pull_image(
            f"{reg.host}/tok/model:{tag}",
            tmp_path / "pulled",
            credentials=creds(reg),
            insecure=True,
        )
        assert pulled == layout.manifest_digest
        wrong = subprocess.run(
            [sys.executable, "-c", RUNNER, *args],
            env=creds_env(tmp_path, reg, password="wrong"),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert wrong.returncode == 3
        assert "rejected the credentials" in wrong.stderr
