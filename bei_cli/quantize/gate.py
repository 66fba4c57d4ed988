"""The accuracy gate: a built engine's outputs scored against fp32 on held-out texts.

Pure scoring over plain arrays -- one row per text, as engines return them -- so any precision
(bf16, int8, fp8, fp4) and any engine is judged the same way against the fp32 torch reference:
embeddings by cosine (the gate's value is the minimum, the mean is reported beside it);
classifiers and rerankers by label agreement (argmax; a one-logit reranker's label is its sign)
with the largest |score difference| beside it; NER by per-token label agreement. The floor
defaults by precision (plan.ACCURACY_FLOOR) and `bei.accuracy_floor` overrides it.

The held-out texts (`texts/heldout.txt`) and the calibration texts (`texts/calibration.txt`) are
separate files: a quantizer never calibrates on the texts that judge it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import numpy.typing as npt

from bei_cli.errors import BuildError
from bei_cli.quantize.plan import ACCURACY_FLOOR, RULES, Precision

Rows = Sequence[npt.NDArray[np.floating]]  # one array per text: a vector, scores, or token scores

# An fp32 engine other than the torch reference (e.g. ONNX Runtime's fused graph) computes the
# same function in another order: it must agree to within float32 noise (DESIGN.md's fp32 parity).
FP32_ENGINE_FLOOR = 0.9999
DTYPE_PRECISION: dict[str, Precision] = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
REFERENCE = "torch float32"
DIGITS = 6  # recorded values are rounded, so a rebuild on the same machine writes the same manifest
FLOOR_HINT = (
    "Build at a higher precision (another quantization_type, or `bei: {dtype: float32}`), or "
    "accept the loss explicitly with `bei: {accuracy_floor: <lower value>}`."
)


@dataclass(frozen=True)
class Score:
    metric: str  # what `value` is: "min cosine", "label agreement", "token label agreement"
    value: float  # the number the floor applies to
    extra: dict[str, float] = field(default_factory=dict)  # reported beside it


@dataclass(frozen=True)
class AccuracyResult:
    metric: str
    value: float
    floor: float
    texts: int  # how many held-out texts were scored
    reference: str  # what the candidate was compared with
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.value >= self.floor

    def describe(self) -> str:
        extras = "".join(f", {k} {v:.6f}" for k, v in sorted(self.extra.items()))
        verdict = "passes" if self.passed else "FAILS"
        return (
            f"{self.metric} {self.value:.6f}{extras} vs {self.reference} on {self.texts} "
            f"held-out texts: {verdict} the floor {self.floor}"
        )


def cosine_score(got: Rows, want: Rows) -> Score:
    a, b = _matrix(got), _matrix(want)
    a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    cosines = np.sum(a * b, axis=1)
    return Score("min cosine", float(cosines.min()), {"mean cosine": float(cosines.mean())})


def label_score(got: Rows, want: Rows) -> Score:
    a, b = _matrix(got), _matrix(want)
    agree = _labels(a) == _labels(b)
    return Score(
        "label agreement", float(agree.mean()), {"max score diff": float(np.abs(a - b).max())}
    )


def token_label_score(got: Rows, want: Rows) -> Score:
    a = np.concatenate([np.asarray(r, dtype=np.float64) for r in got])
    b = np.concatenate([np.asarray(r, dtype=np.float64) for r in want])
    agree = a.argmax(axis=1) == b.argmax(axis=1)
    return Score(
        "token label agreement",
        float(agree.mean()),
        {"max score diff": float(np.abs(a - b).max())},
    )


SCORERS: dict[str, Callable[[Rows, Rows], Score]] = {
    "embed": cosine_score,
    "classify": label_score,
    "rerank": label_score,
    "ner": token_label_score,
    "sparse_embed": cosine_score,
}


def score(task: str, got: Rows, want: Rows) -> Score:
    """Score `got` against `want` row by row (same texts, same order) the way `task` is judged."""
    if len(got) != len(want) or not got:
        raise ValueError(f"cannot score {len(got)} rows against {len(want)}")
    return SCORERS[task](got, want)


def default_floor(dtype: str, quantization: str) -> float:
    """The floor for an engine of `dtype` built with `quantization`, by its lowest precision."""
    precision = RULES[quantization].weights or DTYPE_PRECISION.get(dtype, "fp32")
    return ACCURACY_FLOOR[precision] or FP32_ENGINE_FLOOR


def judge(task: str, got: Rows, want: Rows, *, floor: float) -> AccuracyResult:
    result = score(task, got, want)
    return AccuracyResult(
        metric=result.metric,
        value=round(result.value, DIGITS),
        floor=floor,
        texts=len(got),
        reference=REFERENCE,
        extra={k: round(v, DIGITS) for k, v in result.extra.items()},
    )


def require_floor(result: AccuracyResult, candidate: str) -> None:
    """Fail the build (exit 5) when `candidate` scored below its floor."""
    if result.passed:
        return
    raise BuildError(
        f"the {candidate} engine fails the accuracy gate: {result.describe()}.", hint=FLOOR_HINT
    )


def heldout_texts() -> tuple[str, ...]:
    """The bundled held-out texts that judge every non-fp32 build (64, short to ~500 tokens)."""
    return _bundled("heldout.txt")


def calibration_texts() -> tuple[str, ...]:
    """The bundled calibration texts (128), disjoint from the held-out ones."""
    return _bundled("calibration.txt")


def _bundled(name: str) -> tuple[str, ...]:
    """One text per line; a literal backslash-n inside a line stands for a line break."""
    text = resources.files("bei_cli.quantize").joinpath("texts", name).read_text(encoding="utf-8")
    return tuple(line.replace("\\n", "\n") for line in text.splitlines() if line.strip())


def _matrix(rows: Rows) -> npt.NDArray[np.float64]:
    return np.stack([np.asarray(r, dtype=np.float64).reshape(-1) for r in rows])


def _labels(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    if scores.shape[1] == 1:
        return (scores[:, 0] > 0).astype(np.int64)
    return scores.argmax(axis=1).astype(np.int64)
