from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from bei_cli.errors import ConfigError
from bei_cli.registry.credentials import (
    Credentials,
    docker_config_path,
    resolve_credentials,
    store_login,
)

REG = "registry.example.com:5000"


def write_config(directory: Path, data: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(data))
    return path


def auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_order_flags_then_env_then_docker_config(tmp_path: Path):
    write_config(tmp_path, {"auths": {f"https://{REG}": {"auth": auth("cfg", "p1")}}})
    env = {"DOCKER_CONFIG": str(tmp_path)}
    found = resolve_credentials(REG, explicit=None, environ=env)
    assert found is not None and (found.username, found.password) == ("cfg", "p1")
    assert str(tmp_path / "config.json") in found.source and "p1" not in found.source
    env |= {"BEI_REGISTRY_USERNAME": "envuser", "BEI_REGISTRY_PASSWORD": "p2"}
    found = resolve_credentials(REG, explicit=None, environ=env)
    assert found is not None and found.username == "envuser" and "BEI_REGISTRY" in found.source
    flag = Credentials("flag", "p3", "--username/--password-stdin")
    assert resolve_credentials(REG, explicit=flag, environ=env) is flag


def test_no_credentials_is_anonymous(tmp_path: Path):
    assert resolve_credentials(REG, explicit=None, environ={"HOME": str(tmp_path)}) is None


def test_half_set_env_is_an_error(tmp_path: Path):
    with pytest.raises(ConfigError):
        resolve_credentials(REG, explicit=None, environ={"BEI_REGISTRY_USERNAME": "u"})


def test_default_config_path_is_under_home(tmp_path: Path):
    assert docker_config_path({"HOME": str(tmp_path)}) == tmp_path / ".docker" / "config.json"


def test_password_not_in_repr():
    assert "hunter2" not in repr(Credentials("u", "hunter2", "x"))


def test_cred_helper_protocol(tmp_path: Path):
    helper = tmp_path / "bin" / "docker-credential-fake"
    helper.parent.mkdir()
    helper.write_text(
        "#!/bin/sh\nread server\n"
        'if [ "$server" = "' + REG + '" ]; then '
        'echo \'{"ServerURL":"x","Username":"helped","Secret":"p4"}\'; '
        "else echo 'credentials not found' >&2; exit 1; fi\n"
    )
    helper.chmod(0o755)
    write_config(tmp_path / "cfg", {"credHelpers": {REG: "fake"}, "credsStore": "fake"})
    env = {"DOCKER_CONFIG": str(tmp_path / "cfg")}
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{helper.parent}:{old_path}"
    try:
        found = resolve_credentials(REG, explicit=None, environ=env)
        assert found is not None and (found.username, found.password) == ("helped", "p4")
        assert found.source == "docker-credential-fake"
        # credsStore answers for every registry; a miss is anonymous, not an error.
        assert resolve_credentials("other.example.com", explicit=None, environ=env) is None
    finally:
        os.environ["PATH"] = old_path


def test_store_login_keeps_other_keys_and_is_0600(tmp_path: Path):
    path = write_config(tmp_path, {"auths": {"other.io": {"auth": "eDp5"}}, "psFormat": "x"})
    store_login(path, REG, Credentials("me", "p5", "test"))
    data = json.loads(path.read_text())
    assert data["psFormat"] == "x" and data["auths"]["other.io"] == {"auth": "eDp5"}
    assert base64.b64decode(data["auths"][REG]["auth"]) == b"me:p5"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    found = resolve_credentials(REG, explicit=None, environ={"DOCKER_CONFIG": str(tmp_path)})
    assert found is not None and found.password == "p5"
