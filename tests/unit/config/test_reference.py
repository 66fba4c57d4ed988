"""The schema documents itself: every field is described, docs/config.md is current."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from bei_cli.config.reference import render_json_schema, render_markdown
from bei_cli.config.schema import BeiConfig
from bei_cli.config.schema_walk import model_at

DOC = Path(__file__).resolve().parents[3] / "docs" / "config.md"


def all_models(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[type[BaseModel]]:
    if model in seen:
        return
    seen.add(model)
    yield model
    for name in model.model_fields:
        child = (
            model_at(model, (name,)) or model_at(model, (name, 0)) or model_at(model, (name, "k"))
        )
        if child is not None:
            yield from all_models(child, seen)


def test_every_field_and_block_has_a_description() -> None:
    models = list(all_models(BeiConfig, set()))
    assert len(models) > 20
    undocumented = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert undocumented == []
    assert [m.__name__ for m in models if not (m.__doc__ or "").strip()] == []


def test_docs_config_md_is_generated_from_the_schema() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/config.md is out of date: run `python scripts/gen_config_docs.py`"
    )


def test_reference_covers_every_documented_block_and_marks_ignored_keys() -> None:
    text = render_markdown()
    for heading in ("## `trt_llm.build`", "## `trt_llm.runtime`", "## `bei`", "## `resources`"):
        assert heading in text
    assert "| `strongly_typed` |" in text and "*ignored*" in text
    assert "16384 (encoder), 8192 (encoder_bert)" in text


def test_json_schema_describes_the_truss_keys_and_the_bei_block() -> None:
    schema = json.loads(render_json_schema())
    assert schema["required"] == ["trt_llm"]
    assert {"model_name", "resources", "trt_llm", "bei", "secrets"} <= set(schema["properties"])
    build = schema["$defs"]["TrtLlmBuild"]["properties"]
    assert build["max_num_tokens"]["exclusiveMinimum"] == 64
    assert "encoder_bert" in build["base_model"]["enum"]
    accelerator = schema["$defs"]["Resources"]["properties"]["accelerator"]
    assert any(option.get("type") == "string" for option in accelerator["anyOf"])
