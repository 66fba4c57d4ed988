"""Limits: the one typed value of an artifact's serving limits.

Decided by the pipeline's plan from the config (`trt_llm.build.max_num_tokens`, ...), written to
and read from manifest.json (field names as on disk), and read at serve time by the engine
(`EngineInfo.max_batch_tokens` / `max_batch_size` are `max_num_tokens` / `max_batch_size`,
see `engine.artifact.engine_info`), the queue (the engine client batches by the engine's
limits) and the server (`max_client_batch_size`, `max_concurrent_requests`, `auto_truncate`).
Nothing overrides them at serve time; a different budget is a rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    """Serving limits decided at build time; checked when made (a plan from a validated config
    always passes; a hand-edited manifest that does not is refused)."""

    max_num_tokens: int  # token budget of one engine batch (padded: sequences x longest)
    max_batch_size: int  # sequences per engine batch
    max_seq_len: int  # longest single input, tokens, special tokens included
    max_client_batch_size: int  # inputs per request; more is answered 413
    max_concurrent_requests: int  # requests in flight before answering 429
    auto_truncate: bool  # truncate over-long inputs instead of rejecting them

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "auto_truncate":
                if not isinstance(value, bool):
                    raise ValueError(f"auto_truncate must be true or false, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{item.name} must be a positive integer, got {value!r}")
        if self.max_seq_len > self.max_num_tokens:
            raise ValueError(
                f"max_seq_len ({self.max_seq_len}) exceeds max_num_tokens "
                f"({self.max_num_tokens}): a single longest input could not run"
            )
