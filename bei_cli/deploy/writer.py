"""Rendered manifests -> YAML files, one per kind, byte-identical for the same inputs.

`kubectl apply -f DIR` applies the directory; file names sort in a sensible apply order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

HEADER = "# Rendered by `bei deploy --render`; change the config or flags and render again.\n"
FILE_NAMES: dict[str, str] = {
    "Deployment": "deployment.yaml",
    "Service": "service.yaml",
    "HorizontalPodAutoscaler": "hpa.yaml",
    "PodDisruptionBudget": "pdb.yaml",
}


class _PlainDumper(yaml.SafeDumper):
    """No &anchors/*aliases for repeated values: each object reads on its own."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def manifest_yaml(doc: dict[str, Any]) -> str:
    """One object as YAML, keys in the renderer's order (apiVersion, kind, metadata, spec)."""
    return HEADER + yaml.dump(
        doc,
        Dumper=_PlainDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )


def manifests_yaml(docs: Sequence[dict[str, Any]]) -> str:
    """All objects as one multi-document YAML stream (for stdout or `kubectl apply -f -`)."""
    return "---\n".join(manifest_yaml(doc) for doc in docs)


def write_manifests(docs: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write one file per object into out_dir (created); return the paths in apply order.

    A file of a kind not rendered this time (hpa.yaml after `--replicas`) is removed, so that
    `kubectl apply -f out_dir` applies exactly this render.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for doc in docs:
        path = out_dir / FILE_NAMES[doc["kind"]]
        path.write_text(manifest_yaml(doc), encoding="utf-8")
        paths.append(path)
    for name in sorted(set(FILE_NAMES.values()) - {p.name for p in paths}):
        (out_dir / name).unlink(missing_ok=True)
    return paths
