"""The config reference (docs/config.md), rendered from the schema itself.

Every key's type, bounds, default and description come from the pydantic models, and the
cross-field rules from the rule functions' docstrings, so the document cannot drift from the
validator (a test regenerates it and compares).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bei_cli.config.base import is_ignored
from bei_cli.config.rules import ERROR_RULES, WARNING_RULES
from bei_cli.config.schema import BeiConfig
from bei_cli.config.schema_walk import accepts_none, members, model_in

INTRO = """# config.yaml reference

bei reads the Truss `config.yaml` of a BEI / BEI-Bert deployment unchanged: every real Truss
BEI config validates as-is. This page is generated from the schema
(`python scripts/gen_config_docs.py`); `bei schema` prints the same schema as JSON Schema and
`bei validate config.yaml` checks a file.

- Unknown keys are errors everywhere, with a did-you-mean hint. Duplicate YAML keys are errors.
- Keys marked *ignored* are valid Truss that bei has no use for; `bei validate` lists the ones a
  config sets, once.
- Errors name the dotted path (`trt_llm.build.max_num_tokens`), the value, the allowed values
  and a hint, and exit with code 2.
- bei's own settings live in one optional block, `bei:`. `truss push` rejects that block, so
  leave it out of configs you also push with Truss.

A minimal config:

```yaml
model_name: all-minilm-l6-v2
resources:
  accelerator: L4
trt_llm:
  build:
    base_model: encoder_bert
    checkpoint_repository:
      source: HF
      repo: sentence-transformers/all-MiniLM-L6-v2
      revision: main
  runtime:
    webserver_default_route: /v1/embeddings
```
"""


def render_markdown() -> str:
    homes = _model_homes(BeiConfig)
    lines = [INTRO]
    for path, model in _sections(BeiConfig, "", homes):
        lines.extend(_section(path, model, homes))
    lines.extend(_rules_section())
    return "\n".join(lines).rstrip() + "\n"


def render_json_schema() -> str:
    return json.dumps(BeiConfig.model_json_schema(), indent=2) + "\n"


def _children(model: type[BaseModel], path: str) -> Iterator[tuple[str, type[BaseModel]]]:
    """Sub-blocks documented in their own section (not ignored, not a custom value form)."""
    for name, field in model.model_fields.items():
        child = model_in(field.annotation)
        if child is not None and not is_ignored(field) and _custom_type(field) is None:
            yield (f"{path}.{name}" if path else name), child


def _model_homes(root: type[BaseModel]) -> dict[type[BaseModel], str]:
    """Each block's shallowest path; a block used again deeper down is documented once."""
    homes: dict[type[BaseModel], str] = {root: ""}
    queue = [("", root)]
    while queue:
        path, model = queue.pop(0)
        for child_path, child in _children(model, path):
            if child not in homes:
                homes[child] = child_path
                queue.append((child_path, child))
    return homes


def _sections(
    model: type[BaseModel], path: str, homes: dict[type[BaseModel], str]
) -> Iterator[tuple[str, type[BaseModel]]]:
    yield path, model
    for child_path, child in _children(model, path):
        if homes[child] == child_path:
            yield from _sections(child, child_path, homes)


def _section(path: str, model: type[BaseModel], homes: dict[type[BaseModel], str]) -> list[str]:
    doc = inspect.cleandoc(model.__doc__ or "")
    lines = [f"## `{path}`" if path else "## Top-level keys", "", doc, ""]
    lines += ["| key | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        description = (field.description or "").replace("|", "\\|")
        if is_ignored(field):
            description = f"*ignored* — {description.removesuffix(' Ignored by bei.')}"
        child_path = f"{path}.{name}" if path else name
        type_text = _type_text(field, homes, child_path)
        row = (f"`{name}`", type_text, _default_text(field), description)
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def _rules_section() -> list[str]:
    lines = ["## Cross-field rules", "", "Errors, checked in this order:", ""]
    lines += [f"- {_doc(rule)}" for rule in ERROR_RULES]
    lines += ["", "Warnings (the config is valid; `bei validate` prints them):", ""]
    lines += [f"- {_doc(rule)}" for rule in WARNING_RULES]
    return [*lines, ""]


def _doc(function: Any) -> str:
    return " ".join(inspect.cleandoc(function.__doc__ or function.__name__).split())


def _custom_type(field: FieldInfo) -> str | None:
    extra = field.json_schema_extra
    return str(extra["x-bei-type"]) if isinstance(extra, dict) and "x-bei-type" in extra else None


def _type_text(field: FieldInfo, homes: dict[type[BaseModel], str], path: str) -> str:
    custom = _custom_type(field)
    if custom is not None:
        return custom
    parts = [_name(member) for member in members(field.annotation)]
    child = model_in(field.annotation)
    if child is not None and child in homes and homes[child] != path:
        parts = [f"mapping, as `{homes[child]}`" if p == "mapping" else p for p in parts]
    text = " or ".join(dict.fromkeys(parts))
    if accepts_none(field.annotation):
        text += " or null"
    bounds = _bounds(field)
    return f"{text} ({bounds})" if bounds else text


def _name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{value}`" for value in get_args(annotation))
    if origin is list:
        return f"list of {_name(get_args(annotation)[0])}"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    names = {int: "integer", str: "string", bool: "boolean", float: "number"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(field: FieldInfo) -> str:
    metadata = list(field.metadata)
    for member in _annotated_metadata(field.annotation):
        metadata.extend(member.metadata if isinstance(member, FieldInfo) else [member])
    symbols = {Gt: ("gt", "> {}"), Ge: ("ge", ">= {}"), Lt: ("lt", "< {}"), Le: ("le", "<= {}")}
    found = [
        template.format(getattr(item, attribute))
        for item in metadata
        for kind, (attribute, template) in symbols.items()
        if isinstance(item, kind)
    ]
    if any(isinstance(item, MinLen) for item in metadata):
        found.append("non-empty")
    if field.annotation is not bool and _is_strict(field, metadata):
        found.append("strict")
    return ", ".join(found)


def _annotated_metadata(annotation: Any) -> Iterator[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from get_args(annotation)[1:]
    elif origin in (Union, UnionType):
        for arg in get_args(annotation):
            yield from _annotated_metadata(arg)


def _is_strict(field: FieldInfo, metadata: list[Any]) -> bool:
    return any(getattr(item, "strict", None) is True for item in metadata)


def _default_text(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "x-bei-default" in extra:
        return str(extra["x-bei-default"])
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return "see below" if isinstance(value, BaseModel) else f"`{json.dumps(value)}`"
    if field.default is PydanticUndefined:
        return "**required**"
    return f"`{json.dumps(field.default)}`"
