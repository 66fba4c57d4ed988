"""Fixtures: the real MiniLM tokenizer and FakeEngine-backed apps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bei_cli.inspect.profile import ModelProfile
from bei_cli.server.app import create_app
from bei_cli.server.settings import ServerSettings
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.models import minilm_dir
from tests.unit.server.support import MAX_SEQ_LEN, AppFactory, make_engine, make_profile


@pytest.fixture(scope="session")
def tokenizer() -> TextTokenizer:
    return TextTokenizer.from_dir(minilm_dir(), MAX_SEQ_LEN)


@pytest.fixture
def make_app(tokenizer: TextTokenizer) -> AppFactory:
    def build(engine: Any = None, profile: ModelProfile | None = None, **settings: Any) -> FastAPI:
        return create_app(
            engine if engine is not None else make_engine(),
            tokenizer,
            profile or make_profile(),
            replace(ServerSettings(tokenization_workers=2), **settings),
        )

    return build


@pytest.fixture
def client(make_app: AppFactory) -> Iterator[TestClient]:
    with TestClient(make_app()) as test_client:
        yield test_client
