"""Turn pydantic's ValidationError into one ConfigError a person can act on.

Each problem becomes "<dotted.path>: <message> (got <value>; allowed: ...)". Paths are the keys
of config.yaml (`trt_llm.build.max_num_tokens`, `model_cache[0].repo_id`) without pydantic's
internals. The hint is the most useful single fix: a did-you-mean for an unknown key or value,
a "this key belongs under X" for a misplaced key, or the rule's own advice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bei_cli.config.schema_walk import Loc, allowed_values, field_annotation, field_homes, model_at
from bei_cli.config.suggest import closest
from bei_cli.errors import ConfigError

_INTERNAL_LOC = re.compile(r"^(function-|tagged-union\[|union\[|lax-|strict-|json-or-python)")
_MAX_VALUE_TEXT = 60
_MAX_ALLOWED = 12


@dataclass(frozen=True)
class Diagnosis:
    path: str
    line: str
    hint: str | None


def config_error(exc: ValidationError, root: type[BaseModel], source: str) -> ConfigError:
    diagnoses = [diagnose(error, root) for error in exc.errors(include_url=False)]
    count = len(diagnoses)
    noun = "problem" if count == 1 else "problems"
    hints = [d.hint for d in diagnoses if d.hint]
    # A did-you-mean is the most likely single fix; otherwise the first problem's advice.
    hint = next((h for h in hints if h.startswith("did you mean")), hints[0] if hints else None)
    return ConfigError(
        f"{source} is not a valid bei config ({count} {noun})",
        param=diagnoses[0].path if diagnoses else None,
        hint=hint,
        details=tuple(d.line for d in diagnoses),
    )


def diagnose(error: ErrorDetails, root: type[BaseModel]) -> Diagnosis:
    loc = clean_loc(error["loc"])
    path = dotted(loc) or "(config)"
    ctx = error.get("ctx") or {}
    kind = error["type"]
    allowed: Sequence[str] = ctx.get("allowed") or ()
    hint = ctx.get("hint")
    if kind == "extra_forbidden":
        message, allowed, hint = _unknown_key(loc, root)
    else:
        message = _MESSAGES.get(kind, _pydantic_message)(error)
        if kind in ("literal_error", "enum"):
            allowed = allowed or allowed_values(field_annotation(root, loc))
            guess = closest(error["input"], allowed) if hint is None else None
            hint = hint or (f"did you mean {guess!r}?" if guess else None)
    hint = hint or _TYPE_HINTS.get((path, kind))
    return Diagnosis(path, f"{path}: {message}{_context(error, allowed)}", hint)


def clean_loc(loc: Loc) -> Loc:
    """Drop pydantic's internal location parts (validator and union tags, `[key]` markers)."""
    return tuple(
        part
        for part in loc
        if not (isinstance(part, str) and (part == "[key]" or _INTERNAL_LOC.match(part)))
    )


def dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _context(error: ErrorDetails, allowed: Sequence[str]) -> str:
    kind, value = error["type"], error["input"]
    parts = []
    if kind == "extra_forbidden":
        parts.append(f"value {_show(value)}")
    elif kind != "missing" and value is not None and _worth_showing(value, kind):
        parts.append(f"got {_show(value)}")
    if allowed:
        shown = ", ".join(str(a) for a in allowed[:_MAX_ALLOWED])
        more = ", ..." if len(allowed) > _MAX_ALLOWED else ""
        parts.append(f"allowed: {shown}{more}")
    return f" ({'; '.join(parts)})" if parts else ""


def _worth_showing(value: Any, kind: str) -> bool:
    """Showing "got a mapping" only helps when the complaint is about the type."""
    return not isinstance(value, dict | list) or kind in _TYPE_ERRORS


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        text = "true" if value else "false"  # as written in YAML
    else:
        text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= _MAX_VALUE_TEXT else text[: _MAX_VALUE_TEXT - 3] + "..."


def _unknown_key(loc: Loc, root: type[BaseModel]) -> tuple[str, Sequence[str], str | None]:
    key = str(loc[-1])
    parent = model_at(root, loc[:-1])
    siblings = tuple(parent.model_fields) if parent else ()
    guess = closest(key, siblings)
    if guess:
        return "unknown key", siblings, f"did you mean `{guess}`?"
    homes = [dotted(home) for home in field_homes(root, key) if home[:-1] != loc[:-1]]
    if homes:
        return (
            "unknown key here",
            siblings,
            f"`{key}` belongs under `{homes[0].rsplit('.', 1)[0]}`.",
        )
    where = dotted(loc[:-1]) or "the top level"
    return "unknown key", siblings, f"remove `{key}`; it is not a Truss or bei key at {where}."


def _pydantic_message(error: ErrorDetails) -> str:
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message.replace("Input should be", "must be")


def _bound(word: str, key: str) -> Callable[[ErrorDetails], str]:
    return lambda e: f"must be {word} {(e.get('ctx') or {}).get(key)}"


_MESSAGES: dict[str, Callable[[ErrorDetails], str]] = {
    "missing": lambda e: "required key is missing",
    "int_type": lambda e: (
        "must be a whole number written as a YAML integer (not quoted, not "
        "a decimal, not true/false)"
    ),
    "int_parsing": lambda e: "must be a whole number",
    "int_from_float": lambda e: "must be a whole number",
    "float_type": lambda e: "must be a number",
    "float_parsing": lambda e: "must be a number",
    "string_type": lambda e: "must be a string (in YAML, quote values such as '1' or 'true')",
    "bool_type": lambda e: "must be true or false",
    "bool_parsing": lambda e: "must be true or false",
    "dict_type": lambda e: "must be a mapping (key: value lines)",
    "model_type": lambda e: "must be a mapping (key: value lines)",
    "model_attributes_type": lambda e: "must be a mapping (key: value lines)",
    "list_type": lambda e: "must be a list",
    "literal_error": lambda e: "is not one of the allowed values",
    "enum": lambda e: "is not one of the allowed values",
    "greater_than": _bound("greater than", "gt"),
    "greater_than_equal": _bound("at least", "ge"),
    "less_than": _bound("less than", "lt"),
    "less_than_equal": _bound("at most", "le"),
    "string_too_short": lambda e: "must not be empty",
    "string_pattern_mismatch": lambda e: f"must match {(e.get('ctx') or {}).get('pattern')}",
}

_TYPE_ERRORS = frozenset(
    {
        "dict_type",
        "model_type",
        "model_attributes_type",
        "list_type",
        "string_type",
        "int_type",
        "float_type",
        "bool_type",
    }
)

_TYPE_HINTS: dict[tuple[str, str], str] = {
    ("trt_llm", "missing"): "bei serves BEI configs: add a trt_llm block with trt_llm.build "
    "(base_model: encoder or encoder_bert, and checkpoint_repository {source, repo}).",
    ("trt_llm.build", "missing"): "Add trt_llm.build with base_model and checkpoint_repository.",
    ("trt_llm.build.checkpoint_repository", "missing"): "Add checkpoint_repository: "
    "{source: HF, repo: namespace/name, revision: main}.",
    ("trt_llm.build.checkpoint_repository", "model_type"): "checkpoint_repository is a mapping: "
    "{source: HF, repo: namespace/name, revision: main}.",
    ("secrets", "dict_type"): "Write secrets as a mapping with null placeholders, e.g. "
    "`hf_access_token: null`.",
    ("resources.cpu", "string_type"): "Quote the number: cpu: '1'.",
    ("resources.memory", "string_type"): "Quote it with a unit: memory: '10Gi'.",
}
