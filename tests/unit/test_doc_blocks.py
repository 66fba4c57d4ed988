"""The doc-test harness's extraction and rewrites (the runs are tests/integration/
test_doc_commands.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.doc_blocks import all_blocks, command_blocks, every_block, marked_blocks
from tests.fixtures.doc_script import Addresses, to_script

ROOT = Path(__file__).resolve().parents[2]


def test_only_marked_bash_blocks_are_taken(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\nnot me\n```\n\n<!-- doctest: run -->\n```bash\necho one\necho two\n```\n"
        "<!-- doctest: run setup=minilm-image -->\n```bash\necho three\n```\n"
    )
    blocks = marked_blocks(page, tmp_path)
    assert [(b.line, b.setup, b.text) for b in blocks] == [
        (6, None, "echo one\necho two\n"),
        (11, "minilm-image", "echo three\n"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "<!-- doctest: run -->\n\n```bash\necho\n```\n",  # not right above the fence
        "<!-- doctest: run -->\n```yaml\na: 1\n```\n",  # not a command block
        "<!-- doctest: skip -->\n```bash\necho\n```\n",  # an unknown marker
        "<!-- doctest: no-run -->\n```bash\necho\n```\n",  # no reason
        "<!-- doctest: no-run: GPU -->\n```bash\necho\n```\n",  # a reason says more
        "<!-- doctest: run -->\n```bash\necho\n",  # unclosed
    ],
)
def test_a_marker_that_cannot_apply_is_an_error(tmp_path: Path, text: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(text)
    with pytest.raises(ValueError, match=r"page\.md"):
        marked_blocks(page, tmp_path)


def test_the_repository_pages_parse() -> None:
    assert all_blocks(ROOT)  # every marker in README.md and docs/*.md is well-formed


def test_every_command_block_runs_or_says_why_not() -> None:
    """A new ```bash / ```sh / ```python block in README.md or docs/*.md fails here until it
    is opted in (`<!-- doctest: run -->`) or says why it cannot run offline."""
    unmarked = [block.id for block in every_block(ROOT) if not block.runs and not block.reason]
    assert unmarked == [], "mark these with <!-- doctest: run --> or <!-- doctest: no-run: WHY -->"


def test_no_run_blocks_keep_their_reason_and_unmarked_ones_are_listed(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- doctest: no-run: needs a GPU (scripts/gpu_check.sh) -->\n```bash\nnvidia-smi\n```\n"
        "```sh\nbei serve x\n```\n"
        "<!-- client-test: openai -->\n```python\nimport openai\n```\n"
        "```yaml\nnot: a command\n```\n"
    )
    blocks = command_blocks(page, tmp_path)
    assert [(b.line, b.lang, b.runs, b.reason) for b in blocks] == [
        (2, "bash", False, "needs a GPU (scripts/gpu_check.sh)"),
        (5, "sh", False, None),
        (9, "python", False, "a client snippet: tests/integration/test_clients_*.py run it"),
    ]
    assert marked_blocks(page, tmp_path) == []


def test_local_addresses_and_background_servers() -> None:
    script = to_script(
        "bei serve build/m --port 7997   # a comment\n"
        "curl -s 127.0.0.1:7997/health\n"
        "docker-registry serve /tmp/r.yml &\n"
        "bei push build/m --registry 127.0.0.1:5000 \\\n    --insecure\n",
        Addresses(server_port=4001, registry_port=4002, scratch="/w/tmp"),
    )
    assert "bei serve build/m --port 4001 &\nwait_http http://127.0.0.1:4001/health" in script
    assert "curl -s 127.0.0.1:4001/health" in script
    assert "docker-registry serve /w/tmp/r.yml &\nwait_http http://127.0.0.1:4002/v2/" in script
    assert "--registry 127.0.0.1:4002      --insecure" in script
    assert script.startswith("set -euo pipefail")
