"""manifest.json: what an engine artifact is, written once by `build` and read by `serve`.

The manifest is the artifact's only source of truth at serve time: engine and dtype, the model
profile, serving limits, where the checkpoint came from (never credentials) and the size and
sha256 of every file. Its JSON is deterministic -- sorted keys, no timestamps -- so the same
inputs give a byte-identical manifest (and, later, the same image digest).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from bei_cli import __version__
from bei_cli.engine.limits import Limits
from bei_cli.errors import ArtifactError
from bei_cli.inspect.profile import ModelProfile

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
OPTIONAL_KEYS = frozenset(
    {"files", "revision", "api_key_secret", "accuracy", "extra", "accelerator", "arithmetic"}
)
REBUILD_HINT = "Rebuild the artifact with `bei build` (this bei reads manifest format 1)."


@dataclass(frozen=True)
class SourceRecord:
    """Where the checkpoint came from. Never holds credentials."""

    source: str  # "HF", "S3", "GCS", "AZURE", "REMOTE_URL", "LOCAL", ...
    repo: str
    revision: str | None = None


@dataclass(frozen=True)
class FileRecord:
    path: str  # relative to the artifact root, "/"-separated, e.g. "model/config.json"
    size: int
    sha256: str


@dataclass(frozen=True)
class AccuracyRecord:
    """The accuracy gate's verdict on a non-fp32 engine (see bei_cli.quantize.gate)."""

    metric: str  # "min cosine", "label agreement", "token label agreement"
    value: float  # rounded, so a rebuild on the same machine writes the same manifest
    floor: float  # the build fails below it
    texts: int  # held-out texts scored
    reference: str  # what it was compared with, e.g. "torch float32"
    extra: dict[str, float] = field(default_factory=dict)  # e.g. {"mean cosine": ...}
    # What arithmetic the gate ran, and where: a GPU target's build on a CPU emulates it.
    arithmetic: str = ""


@dataclass(frozen=True)
class Manifest:
    engine: str  # key of the engine table in bei_cli.engine.artifact ("torch", "fake")
    dtype: str  # "float32", "bfloat16", ...
    device_kind: str  # what it was built for: "cpu" or "cuda"
    quantization: str  # "no_quant", ...
    profile: ModelProfile
    limits: Limits
    default_route: str  # what `POST /` serves, e.g. "/v1/embeddings"
    served_model_name: str
    source: SourceRecord
    files: tuple[FileRecord, ...] = ()  # sorted by path
    # The NAME of the secret holding the API key clients must send; the key itself is looked up
    # when serving and never stored.
    api_key_secret: str | None = None
    # The Truss GPU type a cuda artifact was built for (`resources.accelerator` or --target).
    accelerator: str | None = None
    # The accuracy gate's result; None for the fp32 torch reference itself (nothing to compare).
    accuracy: AccuracyRecord | None = None
    format_version: int = FORMAT_VERSION
    bei_version: str = __version__  # the bei that built it

    def to_json(self) -> str:
        data = asdict(self)
        data["profile"] = self.profile.to_dict()
        data["files"] = {f.path: {"size": f.size, "sha256": f.sha256} for f in self.files}
        return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArtifactError(
                f"{MANIFEST_NAME} is not valid JSON: {exc}", hint=REBUILD_HINT
            ) from exc
        if not isinstance(data, dict):
            raise ArtifactError(f"{MANIFEST_NAME} is not a JSON object.", hint=REBUILD_HINT)
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ArtifactError(
                f"{MANIFEST_NAME} has format_version {version!r}; this bei reads {FORMAT_VERSION}.",
                hint=REBUILD_HINT,
            )
        _require_keys(data, cls, "manifest")
        try:
            return _decode(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArtifactError(
                f"{MANIFEST_NAME} is incomplete or malformed: {exc!r}", hint=REBUILD_HINT
            ) from exc


def _require_keys(data: dict[str, Any], cls: type, where: str) -> None:
    required = {f.name for f in fields(cls)} - OPTIONAL_KEYS
    missing = sorted(required - data.keys())
    if missing:
        raise ArtifactError(
            f"{MANIFEST_NAME} {where} lacks {', '.join(missing)}.", hint=REBUILD_HINT
        )


def _decode(data: dict[str, Any]) -> Manifest:
    _require_keys(data["limits"], Limits, "limits")
    files = tuple(
        FileRecord(path=path, size=int(entry["size"]), sha256=str(entry["sha256"]))
        for path, entry in sorted(data.get("files", {}).items())
    )
    return Manifest(
        format_version=data["format_version"],
        bei_version=str(data["bei_version"]),
        engine=str(data["engine"]),
        dtype=str(data["dtype"]),
        device_kind=str(data["device_kind"]),
        quantization=str(data["quantization"]),
        profile=ModelProfile.from_dict(data["profile"]),
        limits=Limits(**data["limits"]),
        default_route=str(data["default_route"]),
        served_model_name=str(data["served_model_name"]),
        source=SourceRecord(**data["source"]),
        files=files,
        api_key_secret=data.get("api_key_secret"),
        accelerator=data.get("accelerator"),
        accuracy=_accuracy(data.get("accuracy")),
    )


def _accuracy(data: dict[str, Any] | None) -> AccuracyRecord | None:
    if data is None:
        return None
    _require_keys(data, AccuracyRecord, "accuracy")
    return AccuracyRecord(
        metric=str(data["metric"]),
        value=float(data["value"]),
        floor=float(data["floor"]),
        texts=int(data["texts"]),
        reference=str(data["reference"]),
        extra={str(k): float(v) for k, v in data.get("extra", {}).items()},
        arithmetic=str(data.get("arithmetic", "")),
    )
