"""Fixtures: the real MiniLM tokenizer and FakeEngine-backed apps.

`client_kind` says where the default engine runs: "in-process" (the batcher thread) everywhere,
unless a test module overrides the fixture to also run its tests against "engine-process" (the
same fake engine, loaded from a fake artifact by a real engine process, one per session).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bei_cli.inspect.profile import ModelProfile
from bei_cli.runtime.engine_process import start_engine_process
from bei_cli.runtime.process_client import EngineConnection
from bei_cli.server.app import create_app
from bei_cli.server.settings import ServerSettings
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.models import minilm_dir
from tests.unit.runtime.artifacts import fake_artifact
from tests.unit.server.support import MAX_SEQ_LEN, AppFactory, make_engine, make_profile


@pytest.fixture(scope="session")
def tokenizer() -> TextTokenizer:
    return TextTokenizer.from_dir(minilm_dir(), MAX_SEQ_LEN)


@pytest.fixture(scope="session")
def fake_engine_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineConnection]:
    engine = start_engine_process(fake_artifact(tmp_path_factory.mktemp("artifact")), device="cpu")
    yield engine.connection
    engine.close()


@pytest.fixture
def client_kind() -> str:
    return "in-process"


@pytest.fixture
def make_app(
    tokenizer: TextTokenizer, client_kind: str, request: pytest.FixtureRequest
) -> AppFactory:
    def build(engine: Any = None, profile: ModelProfile | None = None, **settings: Any) -> FastAPI:
        if engine is None:
            in_process = client_kind == "in-process"
            engine = make_engine() if in_process else request.getfixturevalue("fake_engine_process")
        return create_app(
            engine,
            tokenizer,
            profile or make_profile(),
            replace(ServerSettings(tokenization_workers=2), **settings),
        )

    return build


@pytest.fixture
def client(make_app: AppFactory) -> Iterator[TestClient]:
    with TestClient(make_app()) as test_client:
        yield test_client
