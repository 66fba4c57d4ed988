"""`bei push` and `bei login` as subprocesses against a real docker-registry with htpasswd auth;
skopeo reads back what landed. Every captured output is checked for the registry password."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.object_stores import free_port
from tests.fixtures.oci_layouts import Layout, make_layout
from tests.fixtures.registry import PASSWORD, USERNAME, Registry, start_registry

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# Runs the real CLI edge (bei_cli.cli.main); registers push/login until the root lists them.
RUNNER = (
    "import sys, bei_cli.cli as c\n"
    "from bei_cli.cli import login, push\n"
    "names = {n for n, _ in c.COMMANDS}\n"
    "for n, m in (('push', push), ('login', login)):\n"
    "    if n not in names:\n"
    "        c.app.command(name=n, help=m.HELP, epilog=m.EXAMPLE)(m.command)\n"
    "c.main(sys.argv[1:])\n"
)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with start_registry(tmp_path_factory.mktemp("registry")) as reg:
        yield reg


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    return make_layout(tmp_path_factory.mktemp("layout") / "image")


def env_for(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEI_REGISTRY_")}
    env.update({"DOCKER_CONFIG": str(tmp / "docker"), "BEI_DEBUG": "", **extra})
    return env


def login(registry: Registry, env: dict[str, str], stdin: str) -> subprocess.CompletedProcess[str]:
    args = ("login", registry.host, "-u", USERNAME, "--password-stdin", "--insecure")
    return bei(*args, env=env, stdin=stdin)


def creds_env(tmp: Path, registry: Registry, password: str | None = None) -> dict[str, str]:
    return env_for(
        tmp,
        BEI_REGISTRY_USERNAME=registry.username,
        BEI_REGISTRY_PASSWORD=password or registry.password,
    )


def bei(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert PASSWORD not in done.stdout + done.stderr
    return done


def skopeo_inspect(registry: Registry, ref: str) -> dict:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed (apt-get install skopeo)")
    done = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--tls-verify=false",
            "--creds",
            f"{registry.username}:{registry.password}",
            f"docker://{registry.host}/{ref}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_push_dev_tag_then_nothing_to_upload(tmp_path: Path, registry: Registry, layout: Layout):
    env = creds_env(tmp_path, registry)
    args = (
        "push",
        str(layout.root.parent),
        "--registry",
        f"{registry.host}/team/dev-model",
        "--insecure",
        "--chunk-size",
        "1MiB",
    )
    first = bei(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"{registry.host}/team/dev-model:dev@{layout.manifest_digest}"
    assert "pushed 4 blobs" in first.stderr
    seen = skopeo_inspect(registry, "team/dev-model:dev")
    assert seen["Digest"] == layout.manifest_digest
    assert seen["Labels"] == layout.labels
    again = bei(*args, env=env)
    assert again.returncode == 0, again.stderr
    assert "pushed 0 blobs" in again.stderr and "skipped 4" in again.stderr


def test_repository_defaults_to_model_name(tmp_path: Path, registry: Registry, layout: Layout):
    done = bei(
        "push",
        str(layout.root),
        "--registry",
        registry.host,
        "--insecure",
        env=creds_env(tmp_path, registry),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{registry.host}/tiny-embedder:dev@")


def test_publish_is_immutable_and_promote_moves_production(tmp_path: Path, registry: Registry):
    env = creds_env(tmp_path, registry)
    one, two = make_layout(tmp_path / "one", seed=1), make_layout(tmp_path / "two", seed=2)
    target = ("--registry", f"{registry.host}/team/pub", "--insecure")
    first = bei("push", str(one.root), *target, "--publish", "--promote", env=env)
    assert first.returncode == 0, first.stderr
    version = "sha-" + one.manifest_digest[7:19]
    assert first.stdout.split() == [
        f"{registry.host}/team/pub:{version}@{one.manifest_digest}",
        f"{registry.host}/team/pub:production@{one.manifest_digest}",
    ]
    assert skopeo_inspect(registry, "team/pub:production")["Digest"] == one.manifest_digest

    pinned = bei("push", str(one.root), *target, "--publish", "--version", "1.0", env=env)
    assert pinned.returncode == 0, pinned.stderr
    refused = bei("push", str(two.root), *target, "--publish", "--version", "1.0", env=env)
    assert refused.returncode == 2
    assert "immutable" in refused.stderr and "hint" in refused.stderr
    assert skopeo_inspect(registry, "team/pub:1.0")["Digest"] == one.manifest_digest

    moved = bei(
        "push", str(two.root), *target, "--publish", "--version", "2.0", "--promote", env=env
    )
    assert moved.returncode == 0, moved.stderr
    assert skopeo_inspect(registry, "team/pub:production")["Digest"] == two.manifest_digest
    assert bei("push", str(two.root), *target, "--promote", env=env).returncode == 2


def test_json_is_one_object_whose_references_resolve(tmp_path: Path, registry: Registry):
    """What a CI step parses: one line, one object; every reference is pullable as printed."""
    image = make_layout(tmp_path / "json", seed=3)
    target = ("--registry", f"{registry.host}/team/ci", "--insecure", "--publish", "--promote")
    done = bei("push", str(image.root), *target, "--json", env=creds_env(tmp_path, registry))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1  # one line, unwrapped however long the digest
    summary = json.loads(done.stdout)
    version = "sha-" + image.manifest_digest[7:19]
    assert summary.pop("uploaded") + summary.pop("skipped") == 4  # each of its blobs, once
    assert summary == {
        "registry": registry.host,
        "repository": "team/ci",
        "digest": image.manifest_digest,
        "tags": [version, "production"],
        "references": [
            f"{registry.host}/team/ci:{tag}@{image.manifest_digest}"
            for tag in (version, "production")
        ],
    }
    for reference in summary["references"]:
        by_digest = reference.split("/", 1)[1].split(":")[0] + "@" + reference.split("@")[1]
        assert skopeo_inspect(registry, by_digest)["Digest"] == image.manifest_digest


def test_wrong_password_exits_3_naming_the_source(tmp_path: Path, registry: Registry, layout):
    done = bei(
        "push",
        str(layout.root),
        "--registry",
        f"{registry.host}/team/x",
        "--insecure",
        env=creds_env(tmp_path, registry, password="not-" + "the-password"),
    )
    assert done.returncode == 3
    assert "rejected the credentials" in done.stderr
    assert "BEI_REGISTRY_USERNAME" in done.stderr  # where the wrong password came from


def test_missing_credentials_exit_3(tmp_path: Path, registry: Registry, layout: Layout):
    done = bei(
        "push",
        str(layout.root),
        "--registry",
        f"{registry.host}/team/x",
        "--insecure",
        env=env_for(tmp_path),
    )
    assert done.returncode == 3
    assert "none were found" in done.stderr and "bei login" in done.stderr


def test_plain_http_needs_insecure(tmp_path: Path, registry: Registry, layout: Layout):
    done = bei(
        "push",
        str(layout.root),
        "--registry",
        f"{registry.host}/team/x",
        env=creds_env(tmp_path, registry),
    )
    assert done.returncode == 3
    assert "--insecure" in done.stderr


def test_unreachable_registry_exit_3(tmp_path: Path, layout: Layout):
    done = bei(
        "push",
        str(layout.root),
        "--registry",
        f"127.0.0.1:{free_port()}/x",
        "--insecure",
        env=env_for(tmp_path),
    )
    assert done.returncode == 3
    assert "cannot reach registry" in done.stderr


def test_login_stores_0600_then_push_uses_it(tmp_path: Path, registry: Registry, layout):
    env = env_for(tmp_path)
    wrong = login(registry, env, "wrong-password\n")
    assert wrong.returncode == 3
    assert not (tmp_path / "docker" / "config.json").exists()
    done = login(registry, env, PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    config = tmp_path / "docker" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert registry.host in json.loads(config.read_text())["auths"]
    pushed = bei(
        "push", str(layout.root), "--registry", f"{registry.host}/team/login", "--insecure", env=env
    )
    assert pushed.returncode == 0, pushed.stderr


def test_wrong_password_in_docker_config_names_the_file(tmp_path, registry: Registry, layout):
    env = env_for(tmp_path)
    logged_in = login(registry, env, PASSWORD + "\n")
    assert logged_in.returncode == 0, logged_in.stderr
    config = tmp_path / "docker" / "config.json"
    data = json.loads(config.read_text())
    data["auths"][registry.host]["auth"] = base64.b64encode(b"pushbot:stale").decode()
    config.write_text(json.dumps(data))
    done = bei(
        "push", str(layout.root), "--registry", f"{registry.host}/team/x", "--insecure", env=env
    )
    assert done.returncode == 3
    assert str(config) in done.stderr


def test_interrupted_push_reruns_to_completion(tmp_path: Path, registry: Registry):
    big = make_layout(tmp_path / "big", seed=7, layer_sizes=(1 << 20, 12 << 20, 12 << 20))
    env = creds_env(tmp_path, registry)
    args = [
        sys.executable,
        "-c",
        RUNNER,
        "push",
        str(big.root),
        "--registry",
        f"{registry.host}/team/resume",
        "--insecure",
        "--chunk-size",
        "64KiB",
    ]
    proc = subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            assert PASSWORD not in line
            if line.startswith("uploaded"):
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == -signal.SIGKILL  # killed mid-push, not finished
    started = time.monotonic()
    rerun = bei(*args[3:], env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip().endswith(f"@{big.manifest_digest}")
    assert "skipped 1" in rerun.stderr or "skipped 2" in rerun.stderr
    assert time.monotonic() - started < 60
    assert skopeo_inspect(registry, "team/resume:dev")["Digest"] == big.manifest_digest
