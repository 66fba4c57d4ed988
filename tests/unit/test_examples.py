"""Every example folder holds a config that validates and a README with a curl line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bei_cli.config.load import load_config

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").iterdir())


def test_there_is_an_example_per_workflow() -> None:
    routes = {
        load_config(d / "config.yaml").config.trt_llm.runtime.webserver_default_route
        for d in EXAMPLES
    }
    assert routes >= {"/v1/embeddings", "/rerank", "/predict", "/predict_tokens"}


@pytest.mark.parametrize("folder", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_and_documents_a_request(folder: Path) -> None:
    loaded = load_config(folder / "config.yaml")
    assert loaded.config.trt_llm.build.base_model in ("encoder", "encoder_bert")
    readme = (folder / "README.md").read_text()
    assert "curl" in readme and "bei build" in readme and "bei serve" in readme


@pytest.mark.parametrize("folder", EXAMPLES, ids=lambda p: p.name)
def test_the_readme_names_the_checkpoint_its_config_builds(folder: Path) -> None:
    repo = load_config(folder / "config.yaml").config.trt_llm.build.checkpoint_repository.repo
    title = (folder / "README.md").read_text().splitlines()[0]
    assert repo.lower() in title.lower() or repo.rsplit("/", 1)[-1].lower() in title.lower()
