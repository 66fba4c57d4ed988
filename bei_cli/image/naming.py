"""The one naming rule for an artifact's image: the short name `bei push` uses as the default
repository and `--format docker-archive` tags the archive with.

The name is the last part of the checkpoint's repository (`sentence-transformers/all-MiniLM-L6-v2`
-> `all-minilm-l6-v2`, a LOCAL `/models/e5-small/` -> `e5-small`), else the served model name;
lowercased, every run of characters a repository name cannot hold becomes `-`. The Truss
`model_name` is not used: it is a display name, often 70 characters long.
"""

from __future__ import annotations

import re

from bei_cli.engine.manifest import Manifest

FALLBACK_NAME = "bei-model"


def short_name(text: str) -> str:
    """`text` as one repository path component ('' when nothing usable is left)."""
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")


def image_name(manifest: Manifest) -> str:
    last = manifest.source.repo.rstrip("/").rsplit("/", 1)[-1]
    for candidate in (last, manifest.served_model_name):
        name = short_name(candidate)
        if name:
            return name
    return FALLBACK_NAME
