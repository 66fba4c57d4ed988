"""Measuring built engines on held-out texts: their outputs (for the accuracy gate), their speed,
and the choice of the fastest accurate one.

The workload is fixed -- the bundled held-out texts, truncated to the model's max_seq_len, sorted
by length and cut into batches -- so every candidate runs the same tokens. Speed is tokens/s of
each candidate's fastest pass, the candidates taking turns after one warm-up pass. The choice is
pure (`choose`): the fastest candidate that passes its gate, where a candidate listed earlier wins
unless a later one is faster by more than `margin` -- timing noise must not flip the artifact a
rebuild writes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bei_cli.engine.base import Batch, Engine, FloatArray, Output
from bei_cli.engine.checkpoint_files import Progress
from bei_cli.inspect.profile import ModelProfile
from bei_cli.quantize.gate import AccuracyResult, heldout_texts, judge

GATE_BATCH_SIZE = 16
ROUNDS = 5  # interleaved passes per candidate when candidates are compared
MARGIN = 0.05  # a later candidate must be this much faster to beat an earlier one
REPORT_NAME = "build_report.json"  # next to manifest.json; not hashed, not in the engine layer


@dataclass(frozen=True)
class Candidate:
    engine: str  # a key of artifact.ENGINE_OPENERS
    dtype: str

    def __str__(self) -> str:
        return f"{self.engine} {self.dtype}"


@dataclass(frozen=True)
class Measurement:
    candidate: Candidate
    tokens_per_s: float
    accuracy: AccuracyResult | None  # None: the fp32 torch reference itself

    @property
    def passed(self) -> bool:
        return self.accuracy is None or self.accuracy.passed

    def describe(self) -> str:
        verdict = "reference" if self.accuracy is None else self.accuracy.describe()
        return f"{self.candidate}: {self.tokens_per_s:,.0f} tokens/s; {verdict}"

    def to_dict(self) -> dict[str, Any]:
        accuracy = None
        if self.accuracy is not None:
            accuracy = {**vars(self.accuracy), "passed": self.accuracy.passed}
        return {
            "engine": self.candidate.engine,
            "dtype": self.candidate.dtype,
            "tokens_per_s": round(self.tokens_per_s, 1),
            "accuracy": accuracy,
            "passed": self.passed,
        }


def tokenized_texts(model_dir: Path, texts: Sequence[str], max_seq_len: int) -> list[list[int]]:
    """Token ids as the server makes them (the artifact's tokenizer.json), truncated."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    # Saved tokenizers often carry fixed padding/truncation (MiniLM's pads to 128); the engine
    # pads per batch itself, so both are switched off, as the server does.
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return [e.ids[:max_seq_len] for e in tokenizer.encode_batch(list(texts))]


def batches_of(sequences: Sequence[list[int]], size: int = GATE_BATCH_SIZE) -> list[Batch]:
    """Consecutive batches of `size` sequences, in the given order (callers sort by length)."""
    return [
        Batch.from_sequences(list(sequences[i : i + size])) for i in range(0, len(sequences), size)
    ]


def workload(model_dir: Path, texts: Sequence[str], max_seq_len: int) -> list[Batch]:
    """The fixed gate and timing workload: `texts` sorted by token length, in batches."""
    sequences = sorted(tokenized_texts(model_dir, texts, max_seq_len), key=len)
    return batches_of(sequences)


def output_rows(output: Output) -> tuple[FloatArray, ...] | None:
    """One array per sequence, whichever task filled the Output (None if none did)."""
    if output.token_scores is not None:
        return output.token_scores
    dense = output.embeddings if output.embeddings is not None else output.scores
    return None if dense is None else tuple(dense)


def run_rows(engine: Engine, batches: Sequence[Batch]) -> list[FloatArray]:
    """The engine's rows for every sequence of `batches`, in order."""
    rows: list[FloatArray] = []
    for batch in batches:
        got = output_rows(engine.run(batch))
        if got is None or len(got) != len(batch):
            raise ValueError(f"engine {engine.info.name} returned no or misshapen outputs")
        rows.extend(np.asarray(r, dtype=np.float32) for r in got)
    return rows


def interleaved_tokens_per_second(
    engines: Sequence[Engine], batches: Sequence[Batch], *, rounds: int = ROUNDS
) -> list[float]:
    """Each engine's throughput from its fastest of `rounds` passes, the engines taking turns.

    Taking turns exposes every candidate to the same background load, and the fastest pass is
    the least disturbed one: on a shared machine both matter more than the number of passes.
    """
    tokens = sum(int(b.lengths.sum()) for b in batches)
    for engine in engines:  # warm-up: first-call allocations, lazy kernels, thread pools
        run_rows(engine, batches)
    best = [float("inf")] * len(engines)
    for _ in range(rounds):
        for index, engine in enumerate(engines):
            start = time.perf_counter()
            for batch in batches:
                engine.run(batch)
            best[index] = min(best[index], time.perf_counter() - start)
    return [tokens / seconds for seconds in best]


def choose(measurements: Sequence[Measurement], margin: float = MARGIN) -> Measurement:
    """The fastest candidate that passed its gate; earlier candidates win ties within `margin`."""
    passing = [m for m in measurements if m.passed]
    if not passing:
        raise ValueError("no candidate passed its accuracy gate")
    best = passing[0]
    for measurement in passing[1:]:
        if measurement.tokens_per_s > best.tokens_per_s * (1 + margin):
            best = measurement
    return best


def selection_report(
    measurements: Sequence[Measurement], chosen: Measurement, batches: Sequence[Batch]
) -> dict[str, Any]:
    """What `build_report.json` records: the workload, every candidate's figures, the choice."""
    return {
        "selection": {
            "chosen": {"engine": chosen.candidate.engine, "dtype": chosen.candidate.dtype},
            "candidates": [m.to_dict() for m in measurements],
            "margin": MARGIN,
            "workload": {
                "texts": sum(len(b) for b in batches),
                "tokens": sum(int(b.lengths.sum()) for b in batches),
                "batches": len(batches),
            },
        }
    }


@dataclass
class Gate:
    """The fp32 torch reference's rows on the held-out workload, computed once per build."""

    task: str
    max_seq_len: int
    batches: list[Batch] = field(default_factory=list)
    rows: list[FloatArray] = field(default_factory=list)

    def prepare(self, model_dir: Path, profile: ModelProfile, report: Progress) -> None:
        """Run the reference on the untouched copy in `model_dir` (before any quantizer)."""
        if self.rows:
            return
        from bei_cli.engine.torch_engine import load_torch_engine

        self.batches = workload(model_dir, heldout_texts(), self.max_seq_len)
        report(f"accuracy gate: fp32 torch reference on {len(heldout_texts())} held-out texts")
        reference = load_torch_engine(model_dir, profile, max_seq_len=self.max_seq_len)
        self.rows = run_rows(reference, self.batches)

    def judge(self, engine: Engine, floor: float) -> AccuracyResult:
        return judge(self.task, run_rows(engine, self.batches), self.rows, floor=floor)
