"""Classifier, reranker and NER checkpoints through the build path: the pipeline's plan
(routes, base models, missing labels) and the artifact build -> load round trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bei_cli import pipeline
from bei_cli.config import LoadedConfig, load_config_text
from bei_cli.engine.artifact import load_engine
from bei_cli.engine.build import ArtifactSpec, build_artifact, output_rows
from bei_cli.engine.limits import Limits
from bei_cli.engine.torch_engine import load_torch_engine
from bei_cli.errors import UnsupportedModelError
from tests.fixtures.configs import config_yaml
from tests.fixtures.heads import HeadCheckpoints
from tests.unit.engine.helpers import PARITY_TEXTS, tokenize

SPEC = ArtifactSpec(
    engine="torch",
    dtype="float32",
    quantization="no_quant",
    limits=Limits(
        max_num_tokens=4096,
        max_batch_size=16,
        max_seq_len=128,
        max_client_batch_size=8,
        max_concurrent_requests=64,
        auto_truncate=True,
    ),
    default_route="/predict",
    served_model_name="tiny",
    source={"source": "HF", "repo": "org/tiny", "revision": "main"},
)
TASK_OF = {"tiny-reranker": "rerank", "tiny-classifier": "classify", "tiny-ner": "ner"}
ROUTE_OF = {"rerank": "/rerank", "classify": "/predict", "ner": "/predict_tokens"}


@pytest.fixture(scope="session")
def heads(tmp_path_factory: pytest.TempPathFactory) -> HeadCheckpoints:
    return HeadCheckpoints(tmp_path_factory.mktemp("heads"))


def loaded_config(tmp_path: Path, *, base_model: str, route: str | None = None) -> LoadedConfig:
    return load_config_text(config_yaml(base_model=base_model, route=route), base_dir=tmp_path)


@pytest.mark.parametrize("name", sorted(TASK_OF))
def test_build_and_load_round_trip(heads: HeadCheckpoints, name: str, tmp_path: Path) -> None:
    model_dir = heads(name)
    config = loaded_config(tmp_path, base_model="encoder_bert")
    profile = pipeline.inspect(config, model_dir)
    assert profile.task == TASK_OF[name]
    lines: list[str] = []
    built = build_artifact(model_dir, profile, tmp_path / "art", spec=SPEC, progress=lines.append)
    assert any("smoke test" in line for line in lines)
    engine, manifest = load_engine(tmp_path / "art")
    assert manifest == built and manifest.profile == profile
    assert (engine.info.task, engine.info.labels) == (profile.task, profile.labels)
    batch = tokenize(model_dir, PARITY_TEXTS, 128)
    expected = output_rows(load_torch_engine(model_dir, profile).run(batch))
    got = output_rows(engine.run(batch))
    assert got is not None and expected is not None
    assert len(got) == len(expected) == len(PARITY_TEXTS)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(TASK_OF))
def test_plan_picks_the_route_of_the_task(
    heads: HeadCheckpoints, name: str, tmp_path: Path
) -> None:
    config = loaded_config(tmp_path, base_model="encoder_bert")
    profile = pipeline.inspect(config, heads(name))
    spec = pipeline.plan_artifact(config.config, profile)
    assert spec.default_route == ROUTE_OF[profile.task]
    routed = loaded_config(tmp_path, base_model="encoder_bert", route="/predict")
    assert pipeline.plan_artifact(routed.config, profile).default_route == "/predict"


def test_rerank_and_classify_build_on_encoder(heads: HeadCheckpoints, tmp_path: Path) -> None:
    config = loaded_config(tmp_path, base_model="encoder")
    for name in ("tiny-reranker", "tiny-classifier"):
        profile = pipeline.inspect(config, heads(name))
        assert pipeline.plan_artifact(config.config, profile).engine == "torch"


def test_ner_needs_encoder_bert(heads: HeadCheckpoints, tmp_path: Path) -> None:
    config = loaded_config(tmp_path, base_model="encoder")
    profile = pipeline.inspect(config, heads("tiny-ner"))
    with pytest.raises(UnsupportedModelError, match="ner model") as caught:
        pipeline.plan_artifact(config.config, profile)
    assert caught.value.param == "trt_llm.build.base_model"
    assert caught.value.hint is not None and "encoder_bert" in caught.value.hint


def test_classifier_without_id2label_names_the_fix(heads: HeadCheckpoints, tmp_path: Path) -> None:
    model_dir = tmp_path / "unlabeled"
    shutil.copytree(heads("tiny-classifier"), model_dir)
    config_path = model_dir / "config.json"
    raw = json.loads(config_path.read_text())
    del raw["id2label"], raw["label2id"]
    config_path.write_text(json.dumps(raw))
    config = loaded_config(tmp_path, base_model="encoder_bert")
    with pytest.raises(UnsupportedModelError, match="id2label") as caught:
        pipeline.inspect(config, model_dir)
    assert caught.value.exit_code == 4
    assert caught.value.hint is not None and '"id2label"' in caught.value.hint
