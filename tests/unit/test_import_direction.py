"""Imports point one way (STYLE.md): cli -> pipeline -> steps, server -> runtime -> engine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "bei_cli"

# package area -> areas it must never import
FORBIDDEN: dict[str, set[str]] = {
    "config": {"cli", "pipeline", "server", "engine", "checkpoint", "inspect"},
    "checkpoint": {"cli", "pipeline", "server", "engine", "config"},
    "inspect": {"cli", "pipeline", "server", "engine", "checkpoint", "config"},
    "engine": {"cli", "pipeline", "server", "runtime", "config", "checkpoint"},
    "runtime": {"cli", "pipeline", "server", "config", "checkpoint"},
    "server": {"cli", "pipeline", "config", "checkpoint"},
    "quantize": {"cli", "pipeline", "server", "engine", "config", "checkpoint", "inspect"},
    "pipeline": {"cli", "server"},
    "deploy": {"cli", "pipeline", "checkpoint", "inspect"},
    "image": {"cli", "pipeline", "server", "checkpoint", "inspect"},
    "registry": {"cli", "pipeline", "server", "engine", "config", "checkpoint", "inspect"},
    "oci": {"cli", "pipeline", "server", "engine", "config", "checkpoint", "inspect", "image"}
    | {"registry"},
    "errors": {"cli", "pipeline", "server", "engine", "config", "checkpoint", "inspect"},
    # the one hardware table: every layer reads it, so it reads none of them
    "hardware": {"cli", "pipeline", "server", "engine", "config", "checkpoint", "inspect"}
    | {"quantize", "deploy", "image", "registry", "oci", "errors"},
}


def imported_areas(path: Path) -> set[str]:
    areas = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "bei_cli" and len(parts) > 1:
                areas.add(parts[1])
    return areas


def area_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path: Path) -> None:
    forbidden = FORBIDDEN.get(area_of(path), set())
    bad = imported_areas(path) & forbidden
    assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_the_check_sees_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from bei_cli.server.app import create_app\nimport bei_cli.cli\n")
    assert imported_areas(probe) == {"server", "cli"}
