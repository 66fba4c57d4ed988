"""schemathesis `--checks all` against real `bei serve` embedder, reranker, classifier and NER
servers, with a fixed seed and example budget: zero failures means every answer matches the
server's own OpenAPI document (routes, limits, status codes, content types, schemas), schema-valid
requests are served and schema-invalid ones refused with a 4xx."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.fake_servers import FakeServers

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 15
SEED = 1
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.parametrize("task", ["embed", "rerank", "classify", "ner"])
def test_schemathesis_finds_nothing(fake_servers: FakeServers, task: str, tmp_path: Path) -> None:
    cli = shutil.which("schemathesis") or shutil.which("st")
    assert cli, "schemathesis is a dev dependency: pip install -e .[dev]"
    server = fake_servers(task)
    result = subprocess.run(
        [
            cli,
            "--config-file",
            str(CONFIG),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # its .schemathesis/ cache stays out of the work tree
    )
    assert result.returncode == 0, result.stdout[-6000:]
    assert "No issues found" in result.stdout
