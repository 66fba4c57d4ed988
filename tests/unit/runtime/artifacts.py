"""A fake-engine artifact (no weights, the real MiniLM tokenizer) for engine-process tests: the
engine process loads it with `load_engine` like any artifact."""

from __future__ import annotations

from pathlib import Path

from bei_cli.engine.artifact import MODEL_DIR, record_files, write_manifest
from bei_cli.engine.manifest import Limits, Manifest, SourceRecord
from tests.fixtures.models import copy_tokenizer
from tests.unit.server.support import MAX_SEQ_LEN, make_profile


def fake_artifact(root: Path, *, max_num_tokens: int = 16384, max_batch_size: int = 256) -> Path:
    copy_tokenizer(root / MODEL_DIR)
    limits = Limits(
        max_num_tokens=max_num_tokens,
        max_batch_size=max_batch_size,
        max_seq_len=MAX_SEQ_LEN,
        max_client_batch_size=1024,
        max_concurrent_requests=2048,
        auto_truncate=True,
    )
    manifest = Manifest(
        engine="fake",
        dtype="float32",
        device_kind="cpu",
        quantization="no_quant",
        profile=make_profile(),
        limits=limits,
        default_route="/v1/embeddings",
        served_model_name="bei",
        source=SourceRecord(source="LOCAL", repo="/nowhere"),
        files=record_files(root),
    )
    write_manifest(root, manifest)
    return root
