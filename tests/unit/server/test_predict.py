"""POST /predict: single text, pair and batch forms, activation, and bad inputs."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bei_cli.server.tokenizer import TextTokenizer
from tests.unit.server.support import (
    SCORING_MODELS,
    AppFactory,
    RecordingEngine,
    fake_logits,
    scoring_model,
)
from tests.unit.server.test_errors import assert_envelope

LABELS = SCORING_MODELS["classify"][0]


def expected(tokenizer: TextTokenizer, first: str, second: str | None = None) -> dict[str, float]:
    ((ids, _),) = tokenizer.encode_pairs([(first, second)], truncate=True)
    logits = fake_logits(ids, len(LABELS)).astype(np.float64)
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    return dict(zip(LABELS, probs.tolist(), strict=True))


def check(answer: list[dict[str, object]], want: dict[str, float]) -> None:
    assert [a["label"] for a in answer] == sorted(want, key=lambda k: -want[k])
    for item in answer:
        assert item["score"] == pytest.approx(want[str(item["label"])], abs=1e-6)


@pytest.fixture
def client(make_app: AppFactory) -> Iterator[TestClient]:
    engine, profile = scoring_model("classify")
    with TestClient(make_app(engine=engine, profile=profile, max_client_batch_size=4)) as c:
        yield c


def test_single_text_gives_one_sorted_softmax_list(
    client: TestClient, tokenizer: TextTokenizer
) -> None:
    answer = client.post("/predict", json={"inputs": "great movie"}).json()
    check(answer, expected(tokenizer, "great movie"))
    assert sum(a["score"] for a in answer) == pytest.approx(1.0, abs=1e-5)


def test_a_list_of_two_strings_is_a_pair(client: TestClient, tokenizer: TextTokenizer) -> None:
    answer = client.post("/predict", json={"inputs": ["a question", "an answer"]}).json()
    check(answer, expected(tokenizer, "a question", "an answer"))
    single = client.post("/predict", json={"inputs": ["only one"]}).json()
    check(single, expected(tokenizer, "only one"))


def test_batch_form_gives_a_list_of_lists(client: TestClient, tokenizer: TextTokenizer) -> None:
    inputs = [["good"], ["bad", "worse"], ["meh"]]
    answers = client.post("/predict", json={"inputs": inputs}).json()
    assert len(answers) == 3
    for answer, item in zip(answers, inputs, strict=True):
        check(answer, expected(tokenizer, *item))


def test_raw_scores_are_the_logits(client: TestClient, tokenizer: TextTokenizer) -> None:
    answer = client.post("/predict", json={"inputs": "fine", "raw_scores": True}).json()
    ((ids, _),) = tokenizer.encode_pairs([("fine", None)], truncate=True)
    logits = dict(zip(LABELS, fake_logits(ids, len(LABELS)).tolist(), strict=True))
    check(answer, logits)


def test_pairs_reach_the_engine_with_token_types(
    make_app: AppFactory, tokenizer: TextTokenizer
) -> None:
    inner, profile = scoring_model("classify")
    engine = RecordingEngine(inner)
    with TestClient(make_app(engine=engine, profile=profile)) as client:
        assert client.post("/predict", json={"inputs": [["x"], ["q", "d"]]}).is_success
    encoded = tokenizer.encode_pairs([("x", None), ("q", "d")], truncate=True)
    assert sorted(engine.sequences) == sorted(ids for ids, _ in encoded)
    assert [0, 0, 0, 1, 1] in engine.type_ids  # [CLS] q [SEP] | d [SEP]


@pytest.mark.parametrize("direction", ["Left", "right"])
def test_truncation_and_direction(
    make_app: AppFactory, tokenizer: TextTokenizer, direction: str
) -> None:
    inner, profile = scoring_model("classify")
    engine = RecordingEngine(inner)
    text = " ".join(f"w{i}" for i in range(600))
    body = {"inputs": text, "truncate": True, "truncation_direction": direction}
    with TestClient(make_app(engine=engine, profile=profile)) as client:
        assert client.post("/predict", json=body).is_success
        refused = client.post("/predict", json={"inputs": text, "truncate": False})
    want = tokenizer.encode([text], truncate=True, direction=direction.lower())[0]  # type: ignore[arg-type]
    assert engine.sequences == [want]
    assert_envelope(refused, 422, "inputs")


def test_one_label_classifier_is_served_with_sigmoid(
    make_app: AppFactory, tokenizer: TextTokenizer
) -> None:
    engine, profile = scoring_model("rerank")
    with TestClient(make_app(engine=engine, profile=profile)) as client:
        (answer,) = client.post("/predict", json={"inputs": "x"}).json()
    ((ids, _),) = tokenizer.encode_pairs([("x", None)], truncate=True)
    assert answer["label"] == "LABEL_0"
    assert answer["score"] == pytest.approx(1 / (1 + np.exp(-fake_logits(ids, 1)[0])), abs=1e-6)


@pytest.mark.parametrize(
    ("inputs", "status"),
    [
        ([["a", "b", "c"]], 422),  # three strings where a single or a pair is expected
        (["a", "b", "c"], 422),
        ([[]], 400),  # an empty item
        ([], 400),
        ("", 400),
        ([["a"], [""]], 400),
        ([["a"]] * 5, 413),
        (["a", ["b"]], 422),
        ([[1, 2]], 422),
    ],
)
def test_bad_inputs(client: TestClient, inputs: object, status: int) -> None:
    error = assert_envelope(client.post("/predict", json={"inputs": inputs}), status, "inputs")
    if status == 422 and inputs != [[1, 2]]:
        assert "pair" in error["message"]
    assert client.post("/predict", json={"inputs": "still serving"}).status_code == 200
