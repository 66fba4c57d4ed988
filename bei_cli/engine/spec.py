"""ArtifactSpec: what `build_artifact` builds, as plain values decided by the pipeline's plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bei_cli.engine.limits import Limits
from bei_cli.engine.selection import Candidate
from bei_cli.quantize.plan import QuantPlan


@dataclass(frozen=True)
class ArtifactSpec:
    """What to build, as plain values (decided by the pipeline's plan step)."""

    engine: str  # a key of artifact.ENGINE_OPENERS
    dtype: str  # "float32", "bfloat16", ...
    quantization: str  # "no_quant", "weights_int8", ... (a key of QUANTIZERS, or no_quant)
    limits: Limits
    default_route: str
    served_model_name: str
    source: Mapping[str, str | None]  # {"source", "repo", "revision"}; anything else is dropped
    device_kind: str = "cpu"  # what the artifact is for: "cpu" or "cuda"
    accelerator: str | None = None  # the Truss GPU type of a cuda artifact, e.g. "H100"
    builder_gpus: int | None = None  # trt_llm.build.num_builder_gpus (reported; one is used)
    api_key_secret: str | None = None  # a secret's name, never its value
    # More than one: build, gate and time each, keep the fastest accurate one (the first is the
    # preferred one on a near-tie). Empty: just (engine, dtype), nothing timed.
    candidates: tuple[Candidate, ...] = ()
    # True: time the candidates here and keep the fastest accurate one (a CPU target: this
    # machine). False: the candidates are fallbacks in order, the first accurate one is kept (a
    # GPU target, which this machine cannot time).
    timed: bool = True
    accuracy_floor: float | None = None  # None: the gate's default for the precision
    quant_plan: QuantPlan | None = field(default=None, repr=False)  # for quantizers that read it
    # trt_llm.build.quantization_config: calibration texts used and their longest length.
    calib_size: int = 1024
    calib_max_seq_length: int = 1536

    def choices(self) -> tuple[Candidate, ...]:
        return self.candidates or (Candidate(self.engine, self.dtype),)
