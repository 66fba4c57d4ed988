"""Every command has --help with an example (DEVELOPERS.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bei_cli.cli import COMMANDS


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_every_command_has_help_with_an_example(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bei_cli", name, "--help"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "Example" in result.stdout
    assert f"bei {name}" in result.stdout


def test_root_help_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bei_cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for name, _ in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize(
    ("group", "sub"),
    [("cache", "ls"), ("cache", "rm"), ("cache", "prune"), ("image", "base"), ("image", "build")],
)
def test_command_groups_have_help_with_an_example(group: str, sub: str) -> None:
    top = subprocess.run(
        [sys.executable, "-m", "bei_cli", group, "--help"], capture_output=True, text=True
    )
    assert top.returncode == 0 and "Example" in top.stdout
    result = subprocess.run(
        [sys.executable, "-m", "bei_cli", group, sub, "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Example" in result.stdout
