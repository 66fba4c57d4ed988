"""The doc-test harness: every command block of README.md and docs/*.md that is marked
`<!-- doctest: run -->` (tests/fixtures/doc_blocks.py) runs, as written, against local servers
and a local registry (the rewrites are listed in tests/fixtures/doc_script.py).

All blocks share one scratch folder, as a reader's shell would: `examples/` and `scripts/` of
this checkout, `build/` of its own, an HF cache holding MiniLM (what scripts/demo.sh leaves) and
no network. Blocks run in page order; a `setup=NAME` marker first runs SETUPS[NAME]; a python
block runs as `python3 -`, after the server its setup names.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.doc_blocks import Block, all_blocks
from tests.fixtures.doc_script import Addresses, to_script
from tests.fixtures.images import write_tiny_base
from tests.fixtures.object_stores import find_binary
from tests.integration.conftest import ROOT, free_port

pytestmark = pytest.mark.integration

BLOCKS = all_blocks(ROOT)
ARTIFACT = "build/all-minilm-l6-v2"
IMAGE_TOOLS = {
    "docker-registry": "apt-get install docker-registry",
    "htpasswd": "apt-get install apache2-utils",
    "skopeo": "apt-get install skopeo",
}


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory, hub_env: dict[str, str]) -> Shell:
    return Shell(tmp_path_factory.mktemp("doc-shell"), hub_env)


class Shell:
    """The reader's working directory and environment, kept across blocks."""

    def __init__(self, work: Path, hub_env: dict[str, str]) -> None:
        self.work = work
        for name in ("examples", "scripts"):
            (work / name).symlink_to(ROOT / name)
        (work / "tmp").mkdir()
        bin_dir = work / "bin"
        bin_dir.mkdir()
        (bin_dir / "bei").write_text(f'#!/bin/sh\nexec {sys.executable} -m bei_cli "$@"\n')
        (bin_dir / "bei").chmod(0o755)
        self.env = {
            **hub_env,
            "PATH": f"{bin_dir}:{hub_env.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
            "HOME": str(work / "home"),
            "XDG_CACHE_HOME": str(work / "cache"),
            "DOCKER_CONFIG": str(work / "docker"),
        }

    def run(self, script: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", script],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _minilm_artifact(shell: Shell) -> None:
    if (shell.work / ARTIFACT / "manifest.json").is_file():
        return  # the README's tour built it already
    done = shell.run(
        f"bei build examples/all-minilm-l6-v2/config.yaml -o {ARTIFACT} --no-image --target cpu"
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _minilm_image(shell: Shell) -> None:
    """The artifact packaged as an image, on a tiny base (the real bases need root to build;
    tests/integration/test_image_podman.py runs an image on one)."""
    for tool, install in IMAGE_TOOLS.items():
        find_binary(tool, install)
    _minilm_artifact(shell)
    if (shell.work / ARTIFACT / "image" / "index.json").is_file():
        return  # an earlier block's setup packaged it
    base = write_tiny_base(shell.work / "tiny-base", engines="torch,onnx,fake", devices="cpu,cuda")
    done = shell.run(f"bei image build {ARTIFACT} --base {base}")
    assert done.returncode == 0, done.stderr[-3000:]


SETUPS: dict[str, Callable[[Shell], None]] = {
    "minilm-artifact": _minilm_artifact,
    "minilm-image": _minilm_image,
    "minilm-server": _minilm_artifact,  # and the block runs with `bei serve` of it (below)
}
# What a python block needs running first, as the reader would have it in another terminal.
SERVERS = {"minilm-server": f"bei serve {ARTIFACT} --port 7997\n"}


def as_shell(block: Block) -> str:
    """A python block runs as `python3 -` (after its server, if its setup names one)."""
    if block.lang != "python":
        return block.text
    return f"{SERVERS.get(block.setup or '', '')}python3 - <<'PY'\n{block.text}PY\n"


def test_the_harness_found_the_blocks_it_must_run() -> None:
    pages = {block.page for block in BLOCKS}
    assert {"README.md", "docs/push.md"} <= pages
    assert all(block.setup is None or block.setup in SETUPS for block in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
def test_doc_block_runs(block: Block, shell: Shell) -> None:
    if block.setup:
        SETUPS[block.setup](shell)
    where = Addresses(free_port(), free_port(), str(shell.work / "tmp"))
    script = to_script(as_shell(block), where)
    done = shell.run(script)
    assert done.returncode == 0, (
        f"{block.id} failed (exit {done.returncode})\n--- script\n{script}\n--- stdout\n"
        f"{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-5000:]}"
    )
