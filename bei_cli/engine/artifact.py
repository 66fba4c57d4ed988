"""Reading an engine artifact: manifest, file integrity, and the engine it names.

An artifact is a directory holding `manifest.json` and `model/` (weights, configs, tokenizer).
`load_engine` is all `serve` needs: it checks every file against the manifest (sizes always,
sha256 unless told not to) and opens the engine through the `ENGINE_OPENERS` table.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path

from bei_cli.engine.base import Engine, EngineInfo
from bei_cli.engine.fake import FakeEngine
from bei_cli.engine.manifest import MANIFEST_NAME, REBUILD_HINT, FileRecord, Manifest
from bei_cli.engine.placement import AUTO, place_here
from bei_cli.errors import ArtifactError, UnsupportedHardwareError

MODEL_DIR = "model"  # the checkpoint files inside an artifact
ONNX_FILE = "model.onnx"  # the onnx engine's graph, inside MODEL_DIR
HASH_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def record_files(artifact_dir: Path, under: str = MODEL_DIR) -> tuple[FileRecord, ...]:
    """Size and sha256 of every file below artifact_dir/under, sorted by relative path."""
    paths = sorted(p for p in (artifact_dir / under).rglob("*") if p.is_file())
    return tuple(
        FileRecord(
            path=p.relative_to(artifact_dir).as_posix(),
            size=p.stat().st_size,
            sha256=sha256_file(p),
        )
        for p in paths
    )


def is_artifact(path: Path) -> bool:
    return (path / MANIFEST_NAME).is_file()


def read_manifest(artifact_dir: Path) -> Manifest:
    manifest_path = artifact_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ArtifactError(
            f"{artifact_dir} is not an engine artifact: {MANIFEST_NAME} is missing.",
            hint="Pass the directory `bei build` wrote (it holds manifest.json and model/).",
        )
    return Manifest.from_json(manifest_path.read_text(encoding="utf-8"))


def write_manifest(artifact_dir: Path, manifest: Manifest) -> Path:
    path = artifact_dir / MANIFEST_NAME
    path.write_text(manifest.to_json(), encoding="utf-8")
    return path


def verify_files(artifact_dir: Path, manifest: Manifest, *, hashes: bool = True) -> None:
    """Every listed file exists with its size (cheap) and, if `hashes`, its sha256."""
    for record in manifest.files:
        path = artifact_dir / record.path
        if not path.is_file():
            raise ArtifactError(f"artifact file {record.path} is missing.", hint=REBUILD_HINT)
        if path.stat().st_size != record.size:
            raise ArtifactError(
                f"artifact file {record.path} has the wrong size (corrupt or modified).",
                hint=REBUILD_HINT,
            )
    for record in manifest.files if hashes else ():
        if sha256_file(artifact_dir / record.path) != record.sha256:
            raise ArtifactError(
                f"artifact file {record.path} does not match its sha256 (corrupt or modified).",
                hint=REBUILD_HINT,
            )


def engine_info(manifest: Manifest, *, name: str, device: str) -> EngineInfo:
    profile, limits = manifest.profile, manifest.limits
    return EngineInfo(
        name=name,
        task=profile.task,
        dtype=manifest.dtype,
        device=device,
        embedding_dim=(
            profile.embedding_dim
            if profile.task in ("embed", "sparse_embed")
            else len(profile.labels)
        ),
        labels=profile.labels,
        max_seq_len=limits.max_seq_len,
        max_batch_tokens=limits.max_num_tokens,
        max_batch_size=limits.max_batch_size,
    )


def open_torch(artifact_dir: Path, manifest: Manifest, device: str) -> Engine:
    from bei_cli.engine.torch_engine import load_torch_engine

    return load_torch_engine(
        artifact_dir / MODEL_DIR,
        manifest.profile,
        dtype=manifest.dtype,
        device=device,
        max_batch_tokens=manifest.limits.max_num_tokens,
        max_batch_size=manifest.limits.max_batch_size,
        max_seq_len=manifest.limits.max_seq_len,
    )


def open_onnx(artifact_dir: Path, manifest: Manifest, device: str) -> Engine:
    from bei_cli.engine.onnx_engine import load_onnx_engine

    if device != "cpu":
        raise UnsupportedHardwareError(
            "the onnx engine runs on CPU only in this release.",
            hint="Serve it with --device cpu, or build with `bei: {engine: torch}` for CUDA.",
        )
    return load_onnx_engine(
        artifact_dir / MODEL_DIR,
        manifest.profile,
        onnx_file=ONNX_FILE,
        dtype=manifest.dtype,
        max_batch_tokens=manifest.limits.max_num_tokens,
        max_batch_size=manifest.limits.max_batch_size,
        max_seq_len=manifest.limits.max_seq_len,
    )


def open_fake(artifact_dir: Path, manifest: Manifest, device: str) -> Engine:
    """No weights: deterministic vectors of the profile's dimension (server tests)."""
    info = engine_info(manifest, name="fake", device=device)
    return FakeEngine(info=dataclasses.replace(info, token_embeddings=info.task == "embed"))


# engine name in the manifest -> how to open it. torch is imported lazily: `fake` needs no torch.
ENGINE_OPENERS: dict[str, Callable[[Path, Manifest, str], Engine]] = {
    "torch": open_torch,
    "onnx": open_onnx,
    "fake": open_fake,
}


def load_engine(
    artifact_dir: Path,
    *,
    device: str = AUTO,
    verify: bool = True,
    dtype: str | None = None,
) -> tuple[Engine, Manifest]:
    """Open the engine of a built artifact. `verify=False` skips the sha256 pass (sizes stay).
    `device` "auto": the artifact's kind where this machine has it (a cuda artifact falls back
    to the CPU with one warning, see engine.placement); `dtype` overrides the placement's (the
    build's smoke test and gate run the target's own dtype)."""
    manifest = read_manifest(artifact_dir)
    if dtype is None:
        placement = place_here(manifest, device)
        device, dtype = placement.device, placement.dtype
    elif device == AUTO:
        device = "cpu"
    opener = ENGINE_OPENERS.get(manifest.engine)
    if opener is None:
        raise ArtifactError(
            f"artifact engine {manifest.engine!r} is not available in this bei "
            f"(known: {', '.join(sorted(ENGINE_OPENERS))}).",
            hint=REBUILD_HINT,
        )
    verify_files(artifact_dir, manifest, hashes=verify)
    run_as = manifest if dtype == manifest.dtype else dataclasses.replace(manifest, dtype=dtype)
    return opener(artifact_dir, run_as, device), manifest
