"""`bei build` as a CI pipeline and a user meet it: `--json` (one parseable object, the image
reference and digest whole) and `-o DIR` over an artifact a real `bei serve` is serving (refused,
the served artifact untouched; free again once the server is gone, even after SIGKILL)."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest

from tests.fixtures.images import write_tiny_base
from tests.fixtures.models import make_tiny_sentence_transformer
from tests.integration.conftest import ServerProcess, bei, local_config

pytestmark = pytest.mark.integration
PIN_FP32 = "bei: {engine: torch, dtype: float32}\n"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("tiny-build")
    model = make_tiny_sentence_transformer(work / "tiny-st")
    path = work / "config.yaml"
    path.write_text(local_config(model, base_model="encoder", route="/v1/embeddings") + PIN_FP32)
    return path


@pytest.fixture(scope="module")
def env(hub_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    runtime = tmp_path_factory.mktemp("runtime")  # serving claims of this module's servers only
    return {**hub_env, "XDG_RUNTIME_DIR": str(runtime)}


def test_json_is_one_object_naming_the_image_whole(config: Path, env: dict, tmp_path: Path):
    base = write_tiny_base(tmp_path / "base", engines="torch,onnx,fake")
    out = tmp_path / "a-build-directory-with-a-long-name-so-the-reference-exceeds-80-columns"
    done = bei("build", str(config), "-o", str(out), "--base", base, "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1  # one line: a CI step parses stdout whole
    summary = json.loads(done.stdout)
    index = json.loads((out / "image" / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert summary == {
        "artifact_dir": str(out),
        "engine": "torch",
        "dtype": "float32",
        "device_kind": "cpu",
        "quantization": "no_quant",
        "served_model_name": "local-test",
        "image": f"oci:{out / 'image'}:latest@{digest}",
        "image_digest": digest,
    }
    assert summary["image"] in done.stderr.splitlines()  # the human line is whole, too

    plain = bei("build", str(config), "-o", str(out), "--no-image", "--json", env=env)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["image"] is None
    assert json.loads(plain.stdout)["image_digest"] is None


def test_a_served_artifact_is_never_replaced(config: Path, env: dict, tmp_path: Path):
    out = tmp_path / "served"
    first = bei("build", str(config), "-o", str(out), "--no-image", env=env)
    assert first.returncode == 0, first.stderr
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    server = ServerProcess(out, env)
    try:
        refused = bei("build", str(config), "-o", str(out), "--no-image", env=env)
        assert refused.returncode == 5, refused.stderr
        message = " ".join(refused.stderr.split())
        assert f"pid {server.process.pid} on http://127.0.0.1:{server.port}" in message
        assert "refusing to replace" in message and f"kill {server.process.pid}" in message
        assert "replacing the artifact" not in message  # refused before any build work
        after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert after == before
        assert not list(tmp_path.glob(".served*"))  # no staging left beside it
        # Another directory builds while the server runs.
        other = bei("build", str(config), "-o", str(tmp_path / "other"), "--no-image", env=env)
        assert other.returncode == 0, other.stderr
    finally:
        server.process.send_signal(signal.SIGKILL)  # no clean-up: the kernel drops the lock
        server.process.wait()
    again = bei("build", str(config), "-o", str(out), "--no-image", env=env)
    assert again.returncode == 0, again.stderr
