"""Which routes each model serves (424 naming the others), POST / and the Truss predict route
going to the default route, and /info's model_type."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bei_cli.server.capabilities import ROUTES
from tests.unit.server.support import AppFactory, make_engine, make_profile, scoring_model
from tests.unit.server.test_errors import assert_envelope

BODIES = {
    "/v1/embeddings": {"input": "x"},
    "/embeddings": {"input": "x"},
    "/embed": {"inputs": "x"},
    "/rerank": {"query": "q", "texts": ["x"]},
    "/v1/rerank": {"query": "q", "documents": ["x"]},
    "/predict": {"inputs": "x"},
    "/predict_tokens": {"inputs": "x"},
}


def app_for(make_app: AppFactory, task: str, **settings: object) -> TestClient:
    if task == "embed":
        return TestClient(make_app(engine=make_engine(), profile=make_profile(), **settings))
    engine, profile = scoring_model(task)
    return TestClient(make_app(engine=engine, profile=profile, **settings))


@pytest.mark.parametrize("task", ["embed", "rerank", "classify", "ner"])
def test_each_model_serves_its_routes_and_names_them_on_the_rest(
    make_app: AppFactory, task: str
) -> None:
    with app_for(make_app, task) as client:
        for route, body in BODIES.items():
            reply = client.post(route, json=body)
            if route in ROUTES[task]:  # type: ignore[index]
                assert reply.status_code == 200, (route, reply.text)
            else:
                error = assert_envelope(reply, 424)
                assert all(r in error["message"] for r in ROUTES[task])  # type: ignore[index]


def test_rerank_on_a_classifier_says_it_is_not_a_reranker(make_app: AppFactory) -> None:
    with app_for(make_app, "classify") as client:
        error = assert_envelope(client.post("/rerank", json=BODIES["/rerank"]), 424)
    assert "not a re-ranker model" in error["message"] and "/predict" in error["message"]


@pytest.mark.parametrize(
    ("task", "default_route", "check"),
    [
        ("rerank", "/rerank", lambda body: body[0]["index"] == 0),
        ("classify", "/predict", lambda body: body[0]["label"]),
        ("ner", "/predict_tokens", lambda body: isinstance(body[0], list)),
    ],
)
@pytest.mark.parametrize("path", ["/", "/v1/models/model:predict"])
def test_post_root_goes_to_the_default_route(
    make_app: AppFactory, task: str, default_route: str, check: object, path: str
) -> None:
    with app_for(make_app, task, default_route=default_route) as client:
        reply = client.post(path, json=BODIES[default_route])
    assert reply.status_code == 200, reply.text
    assert check(reply.json())  # type: ignore[operator]


def test_a_default_route_the_model_cannot_serve_answers_424(make_app: AppFactory) -> None:
    with app_for(make_app, "ner", default_route="/v1/embeddings") as client:
        error = assert_envelope(client.post("/", json=BODIES["/v1/embeddings"]), 424)
    assert "/predict_tokens" in error["message"]


@pytest.mark.parametrize(
    ("task", "kind", "labels"),
    [
        ("rerank", "reranker", {"0": "LABEL_0"}),
        ("classify", "classifier", {"0": "negative", "1": "neutral", "2": "positive"}),
    ],
)
def test_info_model_type(make_app: AppFactory, task: str, kind: str, labels: object) -> None:
    with app_for(make_app, task) as client:
        info = client.get("/info").json()
    assert info["task"] == task
    assert info["model_type"] == {
        kind: {"id2label": labels, "label2id": {v: int(k) for k, v in labels.items()}}  # type: ignore[attr-defined]
    }
