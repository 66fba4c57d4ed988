"""`--format docker-archive`: the image as `docker save` writes it, for `docker load`.

manifest.json ([{"Config", "RepoTags", "Layers"}]), repositories, the config JSON under its
digest, and each layer as an uncompressed tar named by its diff_id. The archive itself is a
deterministic tar (sorted members, fixed mtime), so it is as reproducible as the layout.
"""

from __future__ import annotations

import gzip
import re
import shutil
import tempfile
from pathlib import Path

from bei_cli.image.base import TAR_GZIP_TYPE
from bei_cli.image.layer import LayerEntry, with_parents, write_tar
from bei_cli.oci import canonical_json, read_layout

ARCHIVE_NAME = "image.tar"


def repo_tag(name: str, tag: str) -> str:
    """A docker reference from a model name: lower case, [a-z0-9._-] only."""
    repo = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or "bei-model"
    return f"{repo}:{tag}"


def write_docker_archive(layout_dir: Path, dest: Path, *, reference: str, mtime: int) -> Path:
    """Write the layout's image to `dest` as a docker-archive tagged `reference`."""
    stored = read_layout(layout_dir)
    config_name = f"{stored.config_blob.digest.split(':', 1)[1]}.json"
    layer_names = [f"{diff.split(':', 1)[1]}/layer.tar" for diff in stored.layers.diff_ids]
    repo, _, tag = reference.rpartition(":")
    index = [{"Config": config_name, "RepoTags": [reference], "Layers": layer_names}]
    with tempfile.TemporaryDirectory(dir=dest.parent) as scratch:
        entries = [
            LayerEntry(path="manifest.json", data=canonical_json(index)),
            LayerEntry(
                path="repositories",
                data=canonical_json({repo: {tag: layer_names[-1].split("/")[0]}}),
            ),
            LayerEntry(path=config_name, source=stored.config_blob.path),
        ]
        for blob, name in zip(stored.layers.blobs, layer_names, strict=True):
            entries.append(
                LayerEntry(
                    path=name, source=_uncompressed(blob.path, blob.media_type, Path(scratch))
                )
            )
        with dest.open("wb") as sink:
            write_tar(with_parents(entries), sink, mtime=mtime)
    return dest


def _uncompressed(path: Path, media_type: str, scratch: Path) -> Path:
    if media_type != TAR_GZIP_TYPE:
        return path
    target = scratch / path.name
    with gzip.open(path, "rb") as source, target.open("wb") as sink:
        shutil.copyfileobj(source, sink, 1 << 20)
    return target
