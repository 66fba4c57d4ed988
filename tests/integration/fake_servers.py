"""Real `bei serve` processes on fake-engine artifacts, for the client tests: one embedder,
reranker, classifier and NER server, each laid out as `bei build` writes an artifact (manifest,
MiniLM tokenizer files) with `engine: fake`, so a server starts in seconds and needs no weights.

The vectors and scores they answer are FakeEngine's, a pure function of the token ids
(`reference_vector`, `reference_logits`): the client tests check every value a client returns
against them, with the MiniLM tokenizer as the reference tokenizer.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from bei_cli.engine.artifact import MODEL_DIR, record_files, write_manifest
from bei_cli.engine.fake import fake_embedding
from bei_cli.engine.manifest import Limits, Manifest, SourceRecord
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.models import TOKENIZER_FILES, minilm_dir
from tests.unit.server.support import DIM, MAX_SEQ_LEN, SCORING_MODELS, make_profile, scoring_model

if TYPE_CHECKING:
    from tests.integration.conftest import ServerProcess

MAX_CLIENT_BATCH = 64
SERVED_NAME = "bei-fake"


def write_fake_model_artifact(target: Path, task: str) -> Path:
    model = target / MODEL_DIR
    model.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copy(minilm_dir() / name, model / name)
    profile = make_profile() if task == "embed" else scoring_model(task)[1]
    route = "/v1/embeddings" if task == "embed" else SCORING_MODELS[task][1]
    manifest = Manifest(
        engine="fake",
        dtype="float32",
        device_kind="cpu",
        quantization="no_quant",
        profile=profile,
        limits=Limits(16384, 64, MAX_SEQ_LEN, MAX_CLIENT_BATCH, 256, True),
        default_route=route,
        served_model_name=SERVED_NAME,
        source=SourceRecord(source="LOCAL", repo=str(model), revision=None),
        files=record_files(target),
    )
    write_manifest(target, manifest)
    return target


class FakeServers:
    """`servers("ner")`: the NER server, started on first use; `stop()` ends every one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "BEI_"))}
        self.env.update(HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        self.running: dict[str, ServerProcess] = {}

    def __call__(self, task: str, *extra: str) -> ServerProcess:
        from tests.integration.conftest import ServerProcess  # conftest imports this module

        key = " ".join((task, *extra))
        if key not in self.running:
            artifact = write_fake_model_artifact(self.root / key.replace(" ", "_"), task)
            self.running[key] = ServerProcess(artifact, self.env, *extra)
        return self.running[key]

    def stop(self) -> None:
        for server in self.running.values():
            server.stop()


@pytest.fixture(scope="session")
def fake_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeServers]:
    servers = FakeServers(tmp_path_factory.mktemp("fake-artifacts"))
    yield servers
    servers.stop()


_TOKENIZER: list[TextTokenizer] = []


def reference_tokenizer() -> TextTokenizer:
    if not _TOKENIZER:
        _TOKENIZER.append(TextTokenizer.from_dir(minilm_dir(), MAX_SEQ_LEN))
    return _TOKENIZER[0]


def token_ids(text: str) -> list[int]:
    return reference_tokenizer().encode([text], truncate=True)[0]


def reference_vector(text: str | list[int], dims: int | None = None) -> np.ndarray:
    """The L2-normalized vector a fake embedder answers for a text (or token ids)."""
    ids = token_ids(text) if isinstance(text, str) else text
    vector = fake_embedding(ids, DIM)[:dims]
    return np.asarray(vector / np.linalg.norm(vector), dtype=np.float32)


def reference_logits(first: str, second: str | None = None, *, labels: int) -> np.ndarray:
    """The raw logits a fake classifier/reranker answers for a text or a pair."""
    ids = reference_tokenizer().encode_pairs([(first, second)], truncate=True)[0][0]
    return fake_embedding(ids, labels)


def assert_close(got: object, want: np.ndarray, tol: float = 1e-5) -> None:
    np.testing.assert_allclose(np.asarray(got, dtype=np.float32), want, rtol=0, atol=tol)


DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
DOC_URL = "http://127.0.0.1:7997"


def doc_snippet(name: str, url: str) -> str:
    """The ```python block after `<!-- client-test: NAME -->` in docs/api.md, pointed at `url`."""
    text = DOC.read_text()
    marker = f"<!-- client-test: {name} -->"
    assert marker in text, f"docs/api.md has no snippet {name!r}"
    block = text.split(marker, 1)[1].split("```python\n", 1)[1].split("\n```", 1)[0]
    return block.replace(DOC_URL, url)


def run_snippet(name: str, url: str) -> dict[str, object]:
    namespace: dict[str, object] = {"__name__": f"snippet_{name}"}
    exec(compile(doc_snippet(name, url), f"docs/api.md:{name}", "exec"), namespace)
    return namespace
