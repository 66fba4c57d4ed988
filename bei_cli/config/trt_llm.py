"""The `trt_llm` block: `build`, `runtime`, `version_overrides`, `inference_stack`.

Truss models `trt_llm` as a union of a v1 and a v2 stack. BEI is always v1, so bei's model is
the v1 shape only, and its paths read `trt_llm.build.X`. A v2 config still gets Truss's v2
messages (what v2 forbids) before bei's own: bei serves v1 (BEI) configs only.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from bei_cli.config.base import ConfigModel, Problem, ignored_factory, raise_problems
from bei_cli.config.choices import ENCODER_MODELS
from bei_cli.config.trt_llm_build import TrtLlmBuild
from bei_cli.config.trt_llm_runtime import TrtLlmRuntime, VersionOverrides

# Build keys the v2 stack lets a config change; every other key must keep its default.
V2_MODIFIABLE_BUILD_KEYS = frozenset(
    {
        "checkpoint_repository",
        "quantization_type",
        "quantization_config",
        "skip_build_result",
        "num_builder_gpus",
    }
)


class TrtLlm(ConfigModel):
    """The engine block. Its presence (with `build`) is what makes a Truss config a BEI config."""

    build: TrtLlmBuild = Field(description="Engine build settings (required).")
    inference_stack: Literal["v1"] = Field(
        default="v1",
        description="Always v1 for BEI. (v2 is Truss's stack for MoE/multi-node decoders; "
        "bei rejects it.)",
    )
    runtime: TrtLlmRuntime = Field(
        default_factory=TrtLlmRuntime, description="Serving settings of the engine."
    )
    version_overrides: VersionOverrides = ignored_factory(
        "Pinned versions of Baseten's engine images.", VersionOverrides
    )

    @model_validator(mode="before")
    @classmethod
    def _reject_v2(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and data.get("inference_stack") == "v2":
            raise_problems(cls.__name__, v2_problems(data))
        return data

    @model_validator(mode="after")
    def _chunked_context_needs_paging(self) -> TrtLlm:
        plugins = self.build.plugin_configuration
        paged = plugins.use_paged_context_fmha and plugins.paged_kv_cache
        decoder = self.build.base_model not in ENCODER_MODELS
        if decoder and self.runtime.enable_chunked_context and not paged:
            problem = Problem(
                ("build", "plugin_configuration"),
                "with trt_llm.runtime.enable_chunked_context (default true), "
                "plugin_configuration.use_paged_context_fmha and paged_kv_cache must be true",
                hint="Remove plugin_configuration, or set "
                "trt_llm.runtime.enable_chunked_context: false.",
            )
            raise_problems(type(self).__name__, [problem])
        return self


def v2_problems(data: dict[str, Any]) -> list[Problem]:
    """Truss's v2 rules on the raw block, then bei's verdict (v1 only)."""
    build = data.get("build")
    problems: list[Problem] = []
    if isinstance(build, dict):
        if build.get("checkpoint_repository") is None and not build.get("skip_build_result"):
            problems.append(
                Problem(
                    ("build", "checkpoint_repository"),
                    "required for inference_stack v2 unless skip_build_result is set",
                )
            )
        for key, value in build.items():
            field = TrtLlmBuild.model_fields.get(key)
            if key in V2_MODIFIABLE_BUILD_KEYS or field is None or value == field.default:
                continue
            problems.append(
                Problem(
                    ("build", key),
                    "not allowed to be set when using inference_stack v2",
                    value,
                )
            )
    problems.append(
        Problem(
            ("inference_stack",),
            "bei serves BEI configs, which always use inference_stack v1 (v2 is Truss's stack "
            "for MoE and multi-node text generation)",
            "v2",
            hint="Remove `inference_stack: v2` (or write v1) and set "
            "trt_llm.build.base_model to encoder or encoder_bert.",
            allowed=("v1",),
        )
    )
    return problems
