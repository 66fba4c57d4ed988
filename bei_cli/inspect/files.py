"""Reading a checkpoint's JSON files with errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bei_cli.errors import UnsupportedModelError


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnsupportedModelError(
            f"cannot read {path}: {exc}",
            hint="The file must be valid JSON as written by transformers / sentence-transformers.",
        ) from exc


def read_json_object(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise UnsupportedModelError(f"{path} must hold a JSON object, not {type(data).__name__}.")
    return data


def read_optional_object(path: Path) -> dict[str, Any]:
    """The file's object, or {} when the file does not exist."""
    return read_json_object(path) if path.is_file() else {}
