"""POST /predict_tokens on a fake token classifier (BIO labels): forms, raw vs probabilities,
aggregation strategies, spans, and bad requests."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bei_cli.engine.fake import token_vector
from bei_cli.server.tokenizer import TextTokenizer
from tests.unit.server.support import BIO, AppFactory, scoring_model
from tests.unit.server.test_errors import assert_envelope

TEXT = "John Smith flew from Zürich to New York with Acme Corp."
OTHER = "the unbelievably overcomplicated debate"


@pytest.fixture
def client(make_app: AppFactory) -> Iterator[TestClient]:
    engine, profile = scoring_model("ner")
    with TestClient(make_app(engine=engine, profile=profile, max_client_batch_size=4)) as c:
        yield c


def per_token(tokenizer: TextTokenizer, text: str) -> list[dict[str, object]]:
    """The raw "none" answer built independently: every non-special token whose best label is
    not O, with all labels' logits (FakeEngine's logits are token_vector(id))."""
    (spans,) = tokenizer.encode_spans([text], truncate=True)
    out: list[dict[str, object]] = []
    for i, token_id in enumerate(spans.ids):
        logits = token_vector(token_id, len(BIO))
        if spans.special[i] or BIO[int(logits.argmax())] == "O":
            continue
        start, end = spans.offsets[i]
        results = dict(zip(BIO, logits.tolist(), strict=True))
        out.append(
            {
                "token": text[start:end],
                "token_id": token_id,
                "start": start,
                "end": end,
                "results": results,
            }
        )
    return out


def test_none_raw_gives_every_labels_logit_per_kept_token(
    client: TestClient, tokenizer: TextTokenizer
) -> None:
    body = {"inputs": [TEXT], "raw_scores": True, "aggregation_strategy": "none"}
    (answer,) = client.post("/predict_tokens", json=body).json()
    want = per_token(tokenizer, TEXT)
    assert want, "the fake model should tag some tokens"
    assert [{k: v for k, v in a.items() if k != "results"} for a in answer] == [
        {k: v for k, v in w.items() if k != "results"} for w in want
    ]
    for got, expected in zip(answer, want, strict=True):
        assert got["results"] == pytest.approx(expected["results"], abs=1e-5)
        scores = list(got["results"].values())
        assert scores == sorted(scores, reverse=True)


def test_none_probabilities_give_the_top_label(
    client: TestClient, tokenizer: TextTokenizer
) -> None:
    (answer,) = client.post("/predict_tokens", json={"inputs": TEXT}).json()
    want = per_token(tokenizer, TEXT)
    assert [a["token_id"] for a in answer] == [w["token_id"] for w in want]
    for got, expected in zip(answer, want, strict=True):
        logits = np.array(list(expected["results"].values()))  # type: ignore[attr-defined]
        probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        (label, score), = got["results"].items()  # fmt: skip
        assert label == BIO[int(probs.argmax())]
        assert score == pytest.approx(float(probs.max()), abs=1e-5)


@pytest.mark.parametrize("strategy", ["simple", "first", "average", "max"])
def test_aggregated_entities(client: TestClient, strategy: str) -> None:
    body = {"inputs": [TEXT, OTHER], "aggregation_strategy": strategy}
    answers = client.post("/predict_tokens", json=body).json()
    assert len(answers) == 2
    for text, answer in zip([TEXT, OTHER], answers, strict=True):
        for entity in answer:
            (label, score), = entity["results"].items()  # fmt: skip
            assert label in {"PER", "ORG", "LOC"} and 0 < score <= 1
            assert entity["token_id"] == 0
            assert entity["token"] == text[entity["start"] : entity["end"]]
    assert any(answers)


def test_batch_forms_are_flattened_one_list_per_text(client: TestClient) -> None:
    nested = client.post("/predict_tokens", json={"inputs": [[TEXT], [OTHER, TEXT]]}).json()
    flat = client.post("/predict_tokens", json={"inputs": [TEXT, OTHER, TEXT]}).json()
    single = client.post("/predict_tokens", json={"inputs": TEXT}).json()
    assert nested == flat and len(flat) == 3
    assert single == [flat[0]] and flat[2] == flat[0]


def test_truncation(make_app: AppFactory) -> None:
    engine, profile = scoring_model("ner")
    long_text = "John " * 600
    with TestClient(make_app(engine=engine, profile=profile, auto_truncate=False)) as client:
        refused = client.post("/predict_tokens", json={"inputs": long_text})
        assert_envelope(refused, 422, "inputs")
        body = {"inputs": long_text, "truncate": True, "truncation_direction": "Left"}
        (answer,) = client.post("/predict_tokens", json=body).json()
    assert all(a["start"] > len(long_text) // 2 for a in answer)


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"inputs": TEXT, "aggregation_strategy": "mean"}, 422, "aggregation_strategy"),
        ({"inputs": []}, 400, "inputs"),
        ({"inputs": [[TEXT]] * 5}, 413, "inputs"),
        ({"inputs": [1, 2]}, 422, "inputs"),
        ({"inputs": TEXT, "truncation_direction": "middle"}, 422, "truncation_direction"),
    ],
)
def test_bad_requests(client: TestClient, body: dict[str, object], status: int, param: str) -> None:
    error = assert_envelope(client.post("/predict_tokens", json=body), status, param)
    if param == "aggregation_strategy":
        assert "'none', 'simple', 'first', 'average' or 'max'" in error["message"]
    assert client.post("/predict_tokens", json={"inputs": "still serving"}).status_code == 200
