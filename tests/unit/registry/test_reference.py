from __future__ import annotations

import pytest

from bei_cli.errors import ConfigError
from bei_cli.registry.reference import (
    parse_reference,
    parse_target,
    registry_key,
    repository_name,
)


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("127.0.0.1:5000/team/model:v1", "127.0.0.1:5000", "team/model", "v1", None),
        ("localhost/model", "localhost", "model", "latest", None),
        ("ghcr.io/org/img@sha256:" + "a" * 64, "ghcr.io", "org/img", None, "sha256:" + "a" * 64),
        ("debian:bookworm-slim", "docker.io", "library/debian", "bookworm-slim", None),
        ("bitnami/redis", "docker.io", "bitnami/redis", "latest", None),
        ("reg:5000/a/b:t@sha256:" + "b" * 64, "reg:5000", "a/b", "t", "sha256:" + "b" * 64),
    ],
)
def test_parse_reference(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ref.reference == (digest or tag)


def test_docker_hub_api_host():
    assert parse_reference("debian").api_host == "registry-1.docker.io"
    assert parse_reference("127.0.0.1:5000/x").api_host == "127.0.0.1:5000"


@pytest.mark.parametrize("bad", ["Reg.io/UPPER", "reg.io/a//b", "reg.io/a@sha256:xyz", "x:-bad"])
def test_invalid_references(bad):
    with pytest.raises(ConfigError):
        parse_reference(bad)


def test_parse_target():
    assert parse_target("127.0.0.1:5000") == ("127.0.0.1:5000", None)
    assert parse_target("https://reg.example.com/team/m/") == ("reg.example.com", "team/m")
    with pytest.raises(ConfigError):
        parse_target("reg.example.com/Team")


def test_repository_name_from_model_names():
    assert repository_name("all-MiniLM-L6-v2") == "all-minilm-l6-v2"
    assert repository_name("BAAI/bge small__v1.5") == "baai/bge-small__v1.5"
    assert repository_name("-model-") == "model"


def test_registry_key_matches_docker_hub_aliases():
    assert registry_key("https://index.docker.io/v1/") == "docker.io"
    assert registry_key("registry-1.docker.io") == "docker.io"
    assert registry_key("http://127.0.0.1:5000") == "127.0.0.1:5000"
