"""Helpers shared by the server tests: the profile and engine they run on, the vector the
server must answer for given token ids, and an engine that records what it computed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from fastapi import FastAPI

from bei_cli.engine.base import Batch, Output
from bei_cli.engine.fake import FakeEngine, fake_embedding, fake_info
from bei_cli.inspect.profile import ModelProfile

MAX_SEQ_LEN = 256
DIM = 16
PROMPTS = (("query", "query: "), ("passage", "passage: "))


def make_profile(**overrides: Any) -> ModelProfile:
    values: dict[str, Any] = {
        "architecture": "BertModel",
        "model_type": "bert",
        "task": "embed",
        "attention": "bidirectional",
        "hidden_size": DIM,
        "max_seq_len": MAX_SEQ_LEN,
        "embedding_dim": DIM,
        "pooling": "mean",
        "normalize": True,
        "prompts": PROMPTS,
    }
    values.update(overrides)
    return ModelProfile(**values)


def make_engine(**kwargs: Any) -> FakeEngine:
    return FakeEngine(fake_info(dim=DIM, max_seq_len=MAX_SEQ_LEN), **kwargs)


def expected_vector(ids: list[int], dims: int | None = None, normalize: bool = True) -> np.ndarray:
    """What the server must answer for these token ids (FakeEngine, then Matryoshka/L2)."""
    vector = fake_embedding(ids, DIM)[:dims]
    return vector / np.linalg.norm(vector) if normalize else vector


@dataclass
class RecordingEngine:
    """A real Engine (FakeEngine underneath) that also records every sequence it ran, and can
    hold a batch until released -- so tests know exactly what was computed and when."""

    inner: FakeEngine
    sequences: list[list[int]] = field(default_factory=list)
    type_ids: list[list[int] | None] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    hold: bool = False

    @property
    def info(self) -> Any:
        return self.inner.info

    def run(self, batch: Batch) -> Output:
        self.sequences.extend(batch.sequence(i).tolist() for i in range(len(batch)))
        types = batch.token_type_ids
        self.type_ids.extend(
            None if types is None else types[batch.offsets[i] : batch.offsets[i + 1]].tolist()
            for i in range(len(batch))
        )
        self.started.set()
        if self.hold:
            self.release.wait(10)
        return self.inner.run(batch)


AppFactory = Callable[..., FastAPI]


BIO = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
# task -> the labels of its fake model and the route POST / serves.
SCORING_MODELS: dict[str, tuple[tuple[str, ...], str]] = {
    "rerank": (("LABEL_0",), "/rerank"),
    "classify": (("negative", "neutral", "positive"), "/predict"),
    "ner": (BIO, "/predict_tokens"),
}


def scoring_model(task: str, **engine_kwargs: Any) -> tuple[FakeEngine, ModelProfile]:
    """A FakeEngine and profile for a reranker, classifier or token classifier."""
    labels, _ = SCORING_MODELS[task]
    info = replace(fake_info(task, dim=len(labels), max_seq_len=MAX_SEQ_LEN), labels=labels)
    profile = make_profile(
        architecture="BertForTokenClassification"
        if task == "ner"
        else "BertForSequenceClassification",
        task=task,
        pooling=None,
        normalize=False,
        prompts=(),
        id2label=tuple(enumerate(labels)),
    )
    return FakeEngine(info, **engine_kwargs), profile


def fake_logits(ids: list[int], num_labels: int) -> np.ndarray:
    """FakeEngine's classifier row for one sequence (tests use it as the reference)."""
    return fake_embedding(ids, num_labels)
