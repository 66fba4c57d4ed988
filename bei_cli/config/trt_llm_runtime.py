"""`trt_llm.runtime` and `trt_llm.version_overrides`.

For embedding engines only `webserver_default_route` (and the served model name) matter; the
other runtime keys tune TensorRT-LLM's KV cache and scheduler for text generation and are
accepted as ignored. Version overrides pin Baseten's BEI images, which bei does not use.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from bei_cli.config.base import ConfigModel, ignored
from bei_cli.config.choices import BatchSchedulerPolicy, Route

PositiveStrictInt = Annotated[int, Field(strict=True, ge=1)]


class TrtLlmRuntime(ConfigModel):
    """Serving settings of the engine (`trt_llm.runtime`)."""

    webserver_default_route: Route | None = Field(
        default=None,
        description="What `POST /` (and Baseten's predict route) serves: /v1/embeddings "
        "(embeddings), /rerank (cross-encoder reranking), /predict (classification, causal "
        "rerankers, reward models), /predict_tokens (NER, token classification), "
        "/v1/systemone (typed-decision models). null: detected from the checkpoint's "
        "architecture (*ForSequenceClassification -> /predict, *ForTokenClassification -> "
        "/predict_tokens, else /v1/embeddings).",
    )
    served_model_name: str | None = Field(
        default=None,
        description="Model name echoed in OpenAI responses when `bei.served_model_name` is "
        "not set.",
    )
    kv_cache_free_gpu_mem_fraction: float = ignored(
        "Fraction of free GPU memory for the KV cache (text generation).", 0.9
    )
    kv_cache_host_memory_bytes: PositiveStrictInt | None = ignored(
        "Host memory for KV-cache offload, in bytes (>= 1)."
    )
    enable_chunked_context: bool = ignored("Chunked prefill (text generation).", True)
    batch_scheduler_policy: BatchSchedulerPolicy = ignored(
        "TensorRT-LLM scheduler policy (text generation).", "guaranteed_no_evict"
    )
    request_default_max_tokens: PositiveStrictInt | None = ignored(
        "Default max_tokens of a generation request (>= 1)."
    )
    total_token_limit: int = ignored("Tokens scheduled at once (text generation).", 500000)
    lora_cache_max_adapter_size: PositiveStrictInt | None = ignored(
        "Largest LoRA rank the adapter cache supports (>= 1)."
    )
    lora_cache_optimal_adapter_size: PositiveStrictInt | None = ignored(
        "LoRA rank used to size cache pages (>= 1, <= lora_cache_max_adapter_size)."
    )
    lora_cache_gpu_memory_fraction: float | None = ignored(
        "Fraction of free GPU memory for the LoRA cache, in (0, 1].", strict=True, gt=0, le=1
    )
    lora_cache_host_memory_bytes: PositiveStrictInt | None = ignored(
        "Host memory for the LoRA cache, in bytes (>= 1)."
    )

    @model_validator(mode="after")
    def _lora_sizes_ordered(self) -> TrtLlmRuntime:
        largest, optimal = self.lora_cache_max_adapter_size, self.lora_cache_optimal_adapter_size
        if largest is not None and optimal is not None and optimal > largest:
            raise ValueError(
                "lora_cache_optimal_adapter_size cannot be greater than lora_cache_max_adapter_size"
            )
        return self


class VersionOverrides(ConfigModel):
    """Pinned versions of Baseten's engine images (`trt_llm.version_overrides`)."""

    engine_builder_version: str | None = ignored("Engine builder image version.")
    briton_version: str | None = ignored("Briton (decoder server) image version.")
    bei_version: str | None = ignored("BEI image version, e.g. 0.0.25.")
    bei_bert_version: str | None = ignored("BEI-Bert image version, e.g. 1.8.16.")
    v2_llm_version: str | None = ignored("v2 inference-stack image version.")

    @field_validator("engine_builder_version", "briton_version", "bei_version", "bei_bert_version")
    @classmethod
    def _starts_with_digit(cls, value: str | None) -> str | None:
        if value is not None and not value[:1].isdigit():
            raise ValueError("must start with a number, like '1.8.16'")
        return value
