"""Serving claims: a live server's claim is seen and refuses a build; a dead one's is removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bei_cli.engine.serving_claim import (
    claim_serving,
    claims_dir,
    refuse_if_served,
    servers_of,
)
from bei_cli.errors import BuildError


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "run").mkdir()
    return {"XDG_RUNTIME_DIR": str(tmp_path / "run")}


def test_a_claim_lasts_as_long_as_its_block(tmp_path: Path, env: dict[str, str]) -> None:
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    with claim_serving(artifact, "127.0.0.1:7997", env) as claim:
        assert servers_of(artifact, env) == [claim]
        assert servers_of(tmp_path / "artifact" / ".." / "artifact", env) == [claim]
        assert servers_of(tmp_path, env) == []
        with pytest.raises(BuildError, match=r"pid \d+ on http://127.0.0.1:7997") as refused:
            refuse_if_served(artifact, env)
        assert refused.value.exit_code == 5 and "kill" in (refused.value.hint or "")
    assert servers_of(artifact, env) == []
    assert list(claims_dir(env).iterdir()) == []
    refuse_if_served(artifact, env)


def test_a_killed_servers_claim_is_recognised_and_removed(tmp_path: Path, env: dict) -> None:
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    holder = (
        "import sys, time, pathlib\n"
        "from bei_cli.engine.serving_claim import claim_serving\n"
        "with claim_serving(pathlib.Path(sys.argv[1]), 'h:1', {'XDG_RUNTIME_DIR': sys.argv[2]}):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holder, str(artifact), env["XDG_RUNTIME_DIR"]],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "held\n"
        (live,) = servers_of(artifact, env)
        assert (live.pid, live.address) == (process.pid, "h:1")
    finally:
        process.kill()
        process.wait()
    (leftover,) = claims_dir(env).glob("*.json")  # SIGKILL: no clean-up ran
    assert json.loads(leftover.read_text())["pid"] == process.pid
    assert servers_of(artifact, env) == []
    assert not leftover.exists()


def test_without_a_runtime_dir_the_claims_are_per_user() -> None:
    assert claims_dir({}).name == "serving"
    assert claims_dir({}).parent.name == f"bei-{os.getuid()}"
