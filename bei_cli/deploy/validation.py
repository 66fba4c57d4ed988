"""Offline schema check of rendered manifests: kubernetes-validate's bundled Kubernetes JSON
schemas, strict (unknown fields are errors), pinned to one Kubernetes version.

kubernetes-validate is a dev/deploy dependency (its schemas are ~100 MB), imported only here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bei_cli.errors import BuildError

# The oldest Kubernetes the manifests target; newer API servers accept them too.
KUBERNETES_VERSION = "1.30"
INSTALL_HINT = "pip install kubernetes-validate (or bei-cli[dev]), or pass --no-validate."


def schema_errors(doc: dict[str, Any], version: str = KUBERNETES_VERSION) -> list[str]:
    """What is wrong with one object under Kubernetes `version`'s schema ([] when valid)."""
    try:
        import kubernetes_validate
    except ImportError as exc:
        raise BuildError(
            "cannot validate the manifests: kubernetes-validate is not installed.",
            hint=INSTALL_HINT,
        ) from exc
    where = f"{doc.get('kind', '?')}/{doc.get('metadata', {}).get('name', '?')}"
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path) or "(top level)"
        return [f"{where}: {path}: {exc.message}"]
    except (
        kubernetes_validate.SchemaNotFoundError,
        kubernetes_validate.VersionNotSupportedError,
    ) as exc:
        return [f"{where}: {exc.message}"]
    return []


def validate_manifests(docs: Iterable[dict[str, Any]], version: str = KUBERNETES_VERSION) -> None:
    """Raise BuildError listing every object that fails Kubernetes `version`'s schema."""
    errors = [error for doc in docs for error in schema_errors(doc, version)]
    if errors:
        raise BuildError(
            f"the rendered manifests do not pass the Kubernetes {version} schema "
            f"({len(errors)} error{'s' * (len(errors) != 1)}).",
            hint="This is a bei bug unless a flag value is out of range; report it with the "
            "details.",
            details=tuple(errors),
        )
