"""`bei build --insecure` / `bei image build --insecure`: the registry base's host joins
BEI_INSECURE_REGISTRIES (what the base loader reads); a local base is refused with the flag."""

from __future__ import annotations

import pytest

from bei_cli.cli.login import allow_plain_http_base
from bei_cli.errors import ConfigError


def test_the_registry_host_of_the_base_is_allowed_plain_http() -> None:
    env = {"BEI_INSECURE_REGISTRIES": "other:5000"}
    allow_plain_http_base("127.0.0.1:5000/bases/cpu:slim", env)
    assert env["BEI_INSECURE_REGISTRIES"] == "other:5000,127.0.0.1:5000"


@pytest.mark.parametrize("base", [None, "oci:build/base:cpu", "docker-archive:base.tar"])
def test_insecure_without_a_registry_base_is_a_config_error(base: str | None) -> None:
    with pytest.raises(ConfigError, match="needs a registry --base"):
        allow_plain_http_base(base, {})
