"""`bei serve` refuses what it cannot serve before it says "serving" or loads anything."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bei_cli.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    return int(caught.value.code or 0), capsys.readouterr().err


def test_a_directory_that_is_not_an_artifact_is_refused_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(["serve", str(tmp_path), "--port", "0"], capsys)
    assert code == 5
    assert "is not an engine artifact" in err and "serving" not in err


def test_a_port_in_use_is_refused_with_a_hint_before_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        # tmp_path is no artifact either: the port check comes first, so nothing is read.
        code, err = run(["serve", str(tmp_path), "--port", str(port)], capsys)
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err and "another --port" in err
    assert "serving" not in err and "not an engine artifact" not in err
